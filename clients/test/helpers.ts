// Shared pieces of the end-to-end tests: the servers under test, a fetch that records
// every request, and fresh accounts so that no test depends on another.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';

import type { ApolloClient, MaybeMasked, ObservableQuery, OperationVariables } from '@apollo/client';
import { firstValueFrom } from 'rxjs';
import type { Subscribable } from 'rxjs';
import { filter, map } from 'rxjs/operators';

import { createInkwellClient, sessionOf } from '../src/client.js';
import type { InkwellClient, InkwellClientOptions } from '../src/client.js';
import { CreateArticleDocument, SignUpDocument } from '../src/generated/graphql.js';
import type { ArticleCardFragment } from '../src/generated/graphql.js';

/** The base URL of a server under test, from the environment. */
export function serverURL(name: 'INKWELL_URL' | 'INKWELL_SHORT_TTL_URL' | 'INKWELL_ALLOWLIST_URL'): string {
  const url = process.env[name];
  if (!url) {
    throw new Error(`${name} is not set: these tests run against real servers, started by \`make test\``);
  }
  return url;
}

/** One HTTP request the client sent, and what came back. */
export interface RecordedRequest {
  method: string;
  url: URL;
  headers: Headers;
  operationName?: string;
  /** The query text, absent when only the persisted-query hash was sent. */
  query?: string;
  variables?: Record<string, unknown>;
  hash?: string;
  status: number;
  /** extensions.code of each error in the response. */
  errorCodes: string[];
}

/** A fetch for HttpLink that records every request in `requests`. */
export function recordingFetch(): { fetch: typeof fetch; requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const recording: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    let params: Record<string, unknown> = {};
    if (request.method === 'GET') {
      for (const key of ['query', 'operationName', 'variables', 'extensions']) {
        const value = url.searchParams.get(key);
        if (value !== null) {
          params[key] = key === 'variables' || key === 'extensions' ? JSON.parse(value) : value;
        }
      }
    } else {
      params = (await request.clone().json()) as Record<string, unknown>;
    }
    const response = await fetch(request);
    let errorCodes: string[] = [];
    try {
      const body = (await response.clone().json()) as { errors?: { extensions?: { code?: string } }[] };
      errorCodes = (body.errors ?? []).map((e) => e.extensions?.code ?? '');
    } catch {
      // Not JSON: no GraphQL errors to note.
    }
    const extensions = params['extensions'] as { persistedQuery?: { sha256Hash?: string } } | undefined;
    requests.push({
      method: request.method,
      url,
      headers: request.headers,
      operationName: params['operationName'] as string | undefined,
      query: params['query'] as string | undefined,
      variables: params['variables'] as Record<string, unknown> | undefined,
      hash: extensions?.persistedQuery?.sha256Hash,
      status: response.status,
      errorCodes,
    });
    return response;
  };
  return { fetch: recording, requests };
}

/** Requests the server answered, leaving out hashes it did not know yet. */
export function answered(requests: RecordedRequest[], operationName?: string): RecordedRequest[] {
  return requests.filter(
    (r) =>
      !r.errorCodes.includes('PERSISTED_QUERY_NOT_FOUND') &&
      (operationName === undefined || r.operationName === operationName),
  );
}

/** A client for one test, disposed when the test ends. */
export function clientFor(t: TestContext, options: InkwellClientOptions): InkwellClient {
  const ink = createInkwellClient(options);
  t.after(() => ink.dispose());
  return ink;
}

/** A username no other test uses. */
export function uniqueName(prefix = 'u'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export const password = 'correct horse battery';

export interface Account {
  id: string;
  username: string;
  email: string;
}

/** Signs up a new user through ink and keeps the session in ink's store. */
export async function signUp(ink: InkwellClient, prefix = 'u'): Promise<Account> {
  const username = uniqueName(prefix);
  const email = `${username}@example.test`;
  const { data } = await ink.client.mutate({
    mutation: SignUpDocument,
    variables: { input: { username, email, password } },
  });
  if (!data) {
    throw new Error('signUp returned no data');
  }
  ink.sessions.set(sessionOf(data.signUp));
  return { id: data.signUp.user.id, username, email };
}

/** Publishes an article as ink's user. */
export async function createArticle(ink: InkwellClient, title: string): Promise<ArticleCardFragment> {
  const { data } = await ink.client.mutate({
    mutation: CreateArticleDocument,
    variables: { input: { title, description: `About ${title}`, body: `# ${title}\n\nText.`, tags: ['e2e'] } },
  });
  if (!data) {
    throw new Error('createArticle returned no data');
  }
  return data.createArticle.article;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The current data of a watched query, which must be complete. */
export function currentData<T extends object, V extends OperationVariables>(query: ObservableQuery<T, V>): T {
  const result = query.getCurrentResult();
  if (result.dataState !== 'complete') {
    throw new Error(`query result is ${result.dataState}, not complete`);
  }
  return result.data;
}

/** The first complete result of a watched query. */
export function firstData<T extends object, V extends OperationVariables>(query: ObservableQuery<T, V>): Promise<T> {
  return firstValueFrom(
    query.pipe(
      filter((r) => r.dataState === 'complete'),
      map((r) => r.data as T),
    ),
  );
}

/** Events of a subscription, taken one at a time in arrival order. */
export interface EventQueue<T> {
  /** The next event, or a rejection after timeoutMs. */
  next(timeoutMs: number): Promise<T>;
  /** Events received and not taken yet. */
  pending(): number;
  close(): void;
}

/** Subscribes to source and queues its data; an error or completion fails every later next(). */
export function eventQueue<T>(source: Subscribable<ApolloClient.SubscribeResult<MaybeMasked<T>>>): EventQueue<T> {
  const events: T[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const subscription = source.subscribe({
    next: (result) => {
      if (result.error) {
        failure = result.error instanceof Error ? result.error : new Error(String(result.error));
      } else if (result.data !== undefined && result.data !== null) {
        events.push(result.data as T);
      }
      notify();
    },
    error: (err: unknown) => {
      failure = err instanceof Error ? err : new Error(String(err));
      notify();
    },
    complete: () => {
      failure ??= new Error('subscription completed');
      notify();
    },
  });
  return {
    async next(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const event = events.shift();
        if (event !== undefined) {
          return event;
        }
        if (failure) {
          throw failure;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`no subscription event within ${timeoutMs} ms`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
    pending: () => events.length,
    close: () => subscription.unsubscribe(),
  };
}

/**
 * Provokes events until the subscription delivers one, and returns it. The protocol does
 * not say when the server has registered a subscription; after the first event it has.
 */
export async function untilLive<T>(events: EventQueue<T>, provoke: (attempt: number) => Promise<unknown>): Promise<T> {
  for (let attempt = 1; attempt <= 40; attempt++) {
    await provoke(attempt);
    try {
      return await events.next(250);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('no subscription event')) {
        throw err;
      }
    }
  }
  throw new Error('the subscription never delivered an event');
}
