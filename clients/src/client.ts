// Apollo Client wired for Inkwell the way a single-page app uses it: bearer tokens, one
// shared token refresh, automatic persisted queries over HTTP, subscriptions over
// graphql-ws, and a normalised cache that merges Relay pages.
import { createHash } from 'node:crypto';

import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, ServerError } from '@apollo/client';
import type { ApolloCache, Reference } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { isSubscriptionOperation, relayStylePagination } from '@apollo/client/utilities';
import { createClient as createWsClient } from 'graphql-ws';
import type { Client as WsClient, ClientOptions as WsClientOptions } from 'graphql-ws';
import { from, map, of, switchMap, throwError } from 'rxjs';
import WebSocket from 'ws';

import { RefreshSessionDocument } from './generated/graphql.js';
import type { SessionFragment } from './generated/graphql.js';

declare module '@apollo/client' {
  interface DefaultContext {
    // The access token the auth link put on this operation, so that a refresh is only
    // attempted when that very token was refused.
    sentAccessToken?: string;
    // Set once the refresh link has retried this operation; a second refusal is final.
    retriedAfterRefresh?: boolean;
  }
}

/** The tokens of a signed-in session, as `AuthPayload` returns them. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires (RFC 3339). */
  expiresAt: string;
}

/** Where the client keeps the session; a browser app would back it with storage. */
export interface SessionStore {
  get(): Session | null;
  set(session: Session | null): void;
}

/** A session store held in memory. */
export function memorySessionStore(initial: Session | null = null): SessionStore {
  let current = initial;
  return {
    get: () => current,
    set: (session) => {
      current = session;
    },
  };
}

/**
 * Where the client keeps the log position of its latest write (a mutation's
 * `extensions.consistency.lsn`); a browser app would back it with sessionStorage so
 * that a reload still reads its writes.
 */
export interface PositionStore {
  get(): string | null;
  set(lsn: string): void;
}

/** A position store held in memory. */
export function memoryPositionStore(initial: string | null = null): PositionStore {
  let current = initial;
  return {
    get: () => current,
    set: (lsn) => {
      current = lsn;
    },
  };
}

/** An LSN ("16/B374D848") as a number, or null when it is not one. */
export function lsnValue(lsn: string): bigint | null {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m || m[1] === undefined || m[2] === undefined) {
    return null;
  }
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/**
 * consistencyLink keeps the latest `extensions.consistency.lsn` of the answers and
 * sends it as `Inkwell-Min-LSN` with every request after: the server then reads from a
 * replica only once that replica has replayed this client's writes (read-your-writes),
 * and from any replica before that point otherwise.
 */
export function consistencyLink(positions: PositionStore): ApolloLink {
  return new ApolloLink((operation, forward) => {
    const lsn = positions.get();
    if (lsn) {
      const { headers } = operation.getContext();
      operation.setContext({ headers: { ...headers, 'inkwell-min-lsn': lsn } });
    }
    return forward(operation).pipe(
      map((result) => {
        const seen = (result.extensions as { consistency?: { lsn?: unknown } } | undefined)?.consistency?.lsn;
        if (typeof seen === 'string') {
          const next = lsnValue(seen);
          const current = positions.get();
          const known = current === null ? null : lsnValue(current);
          // Answers may arrive out of order: keep the furthest position.
          if (next !== null && (known === null || next > known)) {
            positions.set(seen);
          }
        }
        return result;
      }),
    );
  });
}

/** The tokens of an `AuthPayload` (signUp, signIn, refreshSession). */
export function sessionOf(payload: SessionFragment): Session {
  return { accessToken: payload.accessToken, refreshToken: payload.refreshToken, expiresAt: payload.expiresAt };
}

/** Lowercase hex SHA-256 of text: the hash automatic persisted queries send. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

// Operations that authenticate by what they carry in their input (a password or a refresh
// token). They go without the bearer header: an expired token there would be refused with
// 401 before the operation could replace it.
const tokenlessOperations = new Set(['SignUp', 'SignIn', 'RefreshSession', 'SignOut']);

// A subscription socket refreshes an access token this close to its expiry before it
// connects: the server checks the token in connection_init and closes the socket (4403)
// when it expires, after which graphql-ws reconnects and this refresh runs.
const refreshMarginMs = 1_000;

/** The cache with one field policy per Relay connection of schema.graphql. */
export function createCache(): InMemoryCache {
  return new InMemoryCache({
    // The members of unions and interfaces, so that fragments on them match in the cache.
    possibleTypes: { SearchResult: ['Article', 'User', 'Tag'] },
    typePolicies: {
      Query: {
        fields: {
          // One list per query and type; first/after only page through it.
          search: relayStylePagination(['query', 'type']),
          // Each filter is a list of its own; first/after/last/before only page through it.
          articles: relayStylePagination(['filter']),
          feed: relayStylePagination(),
          tags: relayStylePagination(),
        },
      },
      User: {
        fields: {
          articles: relayStylePagination(),
          favoriteArticles: relayStylePagination(),
          bookmarks: relayStylePagination(),
          notifications: relayStylePagination(),
          followers: relayStylePagination(),
          following: relayStylePagination(),
        },
      },
      // Tags have no id: their name is their identity.
      Tag: {
        keyFields: ['name'],
        fields: {
          articles: relayStylePagination(),
        },
      },
      Article: {
        fields: {
          comments: relayStylePagination(),
        },
      },
      Comment: {
        fields: {
          replies: relayStylePagination(),
        },
      },
    },
  });
}

export interface InkwellClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8080; the API is at `${url}/graphql`. */
  url: string;
  /** Where tokens live; defaults to memory. */
  sessions?: SessionStore;
  /** The fetch HttpLink uses; defaults to the global one. */
  fetch?: typeof fetch;
  /**
   * Automatic persisted queries: on by default. `useGETForHashedQueries` sends hashed
   * reads as GET so HTTP caches can keep them; mutations stay POST.
   */
  persistedQueries?: false | { useGETForHashedQueries?: boolean };
  /** The WebSocket implementation; defaults to the `ws` package (Node 20 has none built in). */
  webSocketImpl?: unknown;
  /** More graphql-ws options, such as `retryAttempts` or `lazy`. */
  wsOptions?: Omit<WsClientOptions, 'url' | 'webSocketImpl' | 'connectionParams'>;
  /** Called when a refresh fails and the user has to sign in again. */
  onSessionExpired?: () => void;
  /** Where the position of the client's latest write is kept; defaults to memory. */
  positions?: PositionStore;
}

export interface InkwellClient {
  client: ApolloClient;
  sessions: SessionStore;
  /** The position of the client's latest write, sent as Inkwell-Min-LSN. */
  positions: PositionStore;
  /** The graphql-ws client behind the subscription link. */
  ws: WsClient;
  /** Refreshes the session now, or joins a refresh already under way; false when it failed. */
  refresh(): Promise<boolean>;
  /** Stops the client and closes its socket. */
  dispose(): Promise<void>;
}

/** Builds an Apollo Client for the Inkwell server at options.url. */
export function createInkwellClient(options: InkwellClientOptions): InkwellClient {
  const sessions = options.sessions ?? memorySessionStore();
  const base = options.url.replace(/\/+$/, '');

  // One refresh at a time: operations failing together wait for the same one, since
  // presenting a refresh token twice signs the whole session out.
  let refreshing: Promise<boolean> | null = null;

  // refreshAfter replaces the session whose access token was refused. When the stored
  // token is already a newer one, another operation has refreshed in the meantime and
  // the caller only needs to retry.
  const refreshAfter = (refused: string | undefined): Promise<boolean> => {
    const current = sessions.get();
    if (!current) {
      return Promise.resolve(false);
    }
    if (refused !== undefined && current.accessToken !== refused) {
      return Promise.resolve(true);
    }
    refreshing ??= runRefresh(current.refreshToken).finally(() => {
      refreshing = null;
    });
    return refreshing;
  };

  const runRefresh = async (refreshToken: string): Promise<boolean> => {
    try {
      const { data } = await client.mutate({
        mutation: RefreshSessionDocument,
        variables: { input: { refreshToken } },
        fetchPolicy: 'no-cache',
      });
      if (!data) {
        throw new Error('refreshSession returned no data');
      }
      sessions.set(sessionOf(data.refreshSession));
      return true;
    } catch (err) {
      // Only the server's refusal ends the session; after a network failure the refresh
      // token is still good for the next attempt.
      if (isUnauthenticated(err)) {
        sessions.set(null);
        options.onSessionExpired?.();
      }
      return false;
    }
  };

  const authLink = new SetContextLink((prev, operation) => {
    const session = sessions.get();
    if (!session || tokenlessOperations.has(operation.operationName ?? '')) {
      return { sentAccessToken: undefined };
    }
    return {
      headers: { ...prev.headers, authorization: `Bearer ${session.accessToken}` },
      sentAccessToken: session.accessToken,
    };
  });

  const refreshLink = new ErrorLink(({ error, result, operation, forward }) => {
    const context = operation.getContext();
    if (!isUnauthenticated(error) || !context.sentAccessToken || context.retriedAfterRefresh) {
      return;
    }
    operation.setContext({ retriedAfterRefresh: true });
    return from(refreshAfter(context.sentAccessToken)).pipe(
      switchMap((ok) => {
        if (ok) {
          return forward(operation);
        }
        return result ? of(result) : throwError(() => error);
      }),
    );
  });

  const positions = options.positions ?? memoryPositionStore();
  const httpChain: ApolloLink[] = [refreshLink, authLink, consistencyLink(positions)];
  if (options.persistedQueries !== false) {
    httpChain.push(
      new PersistedQueryLink({
        sha256: sha256Hex,
        useGETForHashedQueries: options.persistedQueries?.useGETForHashedQueries ?? false,
      }),
    );
  }
  httpChain.push(new HttpLink({ uri: `${base}/graphql`, fetch: options.fetch }));

  const ws = createWsClient({
    ...options.wsOptions,
    url: `${base.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: options.webSocketImpl ?? WebSocket,
    connectionParams: async () => {
      let session = sessions.get();
      if (session && Date.parse(session.expiresAt) - Date.now() < refreshMarginMs) {
        await refreshAfter(session.accessToken);
        session = sessions.get();
      }
      return session ? { authorization: `Bearer ${session.accessToken}` } : {};
    },
  });

  const link = ApolloLink.split(
    ({ query }) => isSubscriptionOperation(query),
    new GraphQLWsLink(socketErrorsAsErrors(ws)),
    ApolloLink.from(httpChain),
  );

  const client = new ApolloClient({ link, cache: createCache() });

  return {
    client,
    sessions,
    positions,
    ws,
    refresh: () => refreshAfter(undefined),
    dispose: async () => {
      client.stop();
      await ws.dispose();
    },
  };
}

/**
 * socketErrorsAsErrors hands GraphQLWsLink an Error where graphql-ws reports a socket
 * error event: the link recognises such events by comparing with the global WebSocket,
 * which Node 20 does not have, and would otherwise throw a ReferenceError instead of
 * failing the subscription.
 */
function socketErrorsAsErrors(client: WsClient): WsClient {
  return {
    ...client,
    subscribe: (payload, sink) =>
      client.subscribe(payload, {
        ...sink,
        error: (err) => {
          const isEvent = typeof err === 'object' && err !== null && !Array.isArray(err) && !(err instanceof Error);
          if (isEvent && 'target' in err && !('code' in err)) {
            const message = 'message' in err && typeof err.message === 'string' ? err.message : 'connection failed';
            sink.error(new Error(`WebSocket error: ${message}`));
            return;
          }
          sink.error(err);
        },
      }),
  };
}

/**
 * Whether the server refused the operation's credentials: an error coded
 * `UNAUTHENTICATED`, whether it came as a GraphQL response (the server answers
 * application/graphql-response+json, HTTP 401 included) or as the body of a failed
 * application/json response.
 */
export function isUnauthenticated(error: unknown): boolean {
  if (CombinedGraphQLErrors.is(error)) {
    return error.errors.some((e) => e.extensions?.['code'] === 'UNAUTHENTICATED');
  }
  if (ServerError.is(error)) {
    if (error.statusCode === 401) {
      return true;
    }
    try {
      const body = JSON.parse(error.bodyText) as { errors?: { extensions?: { code?: unknown } }[] };
      return body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED') ?? false;
    } catch {
      return false;
    }
  }
  return false;
}

/** A new comment as a mutation or subscription returns it: enough to place it. */
export interface NewReply {
  __typename?: 'Comment';
  id: string;
  parent?: { id: string } | null;
}

/**
 * Puts a new reply at the end of its parent's cached `replies`, so that every watched
 * thread shows it without a refetch. Use it as the `update` of an `AddReply` mutation,
 * or for a `commentAdded` event. Nothing changes when the parent's replies were never
 * read, when the reply is already there, or when the cached page does not reach the end
 * of the thread (the reply belongs on a later page).
 */
export function addReplyToThread(cache: ApolloCache, reply: NewReply | null | undefined): void {
  if (!reply?.parent) {
    return;
  }
  const parent = cache.identify({ __typename: 'Comment', id: reply.parent.id });
  const ref = cache.identify({ __typename: 'Comment', id: reply.id });
  if (!parent || !ref) {
    return;
  }
  interface Page {
    edges?: { cursor: string; node: Reference }[];
    pageInfo?: { hasNextPage?: boolean };
  }
  cache.modify<{ replies: Page }>({
    id: parent,
    fields: {
      replies(existing, { toReference }) {
        const page = existing as Page;
        const edges = page.edges ?? [];
        if (page.pageInfo?.hasNextPage || edges.some((e) => e.node.__ref === ref)) {
          return existing;
        }
        const node = toReference(ref);
        if (!node) {
          return existing;
        }
        return { ...page, edges: [...edges, { __typename: 'CommentEdge', cursor: '', node }] };
      },
    },
  });
}
