import assert from 'node:assert/strict';
import { test } from 'node:test';

import { gql } from '@apollo/client';

import { sessionOf } from '../src/client.js';
import {
  AddCommentDocument,
  ArticleDocument,
  CommentAddedDocument,
  ArticlesDocument,
  FavoriteArticleDocument,
  FeedDocument,
  FollowUserDocument,
  SignInDocument,
  SignOutDocument,
  UnfavoriteArticleDocument,
  UnfollowUserDocument,
  ViewerDocument,
} from '../src/generated/graphql.js';
import type { CommentAddedSubscription } from '../src/generated/graphql.js';
import { persistedOperations } from '../src/persisted.js';
import { clientFor, createArticle, eventQueue, password, recordingFetch, serverURL, signUp, untilLive } from './helpers.js';

// The server under test was started with persisted-queries.json as its allow-list.
test('allow-list mode: the registered operations run by hash alone', async (t) => {
  const url = serverURL('INKWELL_ALLOWLIST_URL');
  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch });

  const author = await signUp(ink, 'author');
  const article = await createArticle(ink, 'Allowed');
  const reader = clientFor(t, { url, fetch });
  const account = await signUp(reader, 'reader');

  const steps: [string, () => Promise<unknown>][] = [
    ['Viewer', () => reader.client.query({ query: ViewerDocument })],
    ['Articles', () => reader.client.query({ query: ArticlesDocument, variables: { first: 5, filter: { author: author.username } } })],
    ['Article', () => reader.client.query({ query: ArticleDocument, variables: { slug: article.slug } })],
    ['FollowUser', () => reader.client.mutate({ mutation: FollowUserDocument, variables: { input: { username: author.username } } })],
    ['Feed', () => reader.client.query({ query: FeedDocument, variables: { first: 5 } })],
    ['FavoriteArticle', () => reader.client.mutate({ mutation: FavoriteArticleDocument, variables: { input: { slug: article.slug } } })],
    ['UnfavoriteArticle', () => reader.client.mutate({ mutation: UnfavoriteArticleDocument, variables: { input: { slug: article.slug } } })],
    ['AddComment', () => reader.client.mutate({ mutation: AddCommentDocument, variables: { input: { articleSlug: article.slug, body: 'Allowed comment' } } })],
    ['UnfollowUser', () => reader.client.mutate({ mutation: UnfollowUserDocument, variables: { input: { username: author.username } } })],
    ['SignIn', async () => {
      const { data } = await reader.client.mutate({ mutation: SignInDocument, variables: { input: { email: account.email, password } } });
      assert.ok(data);
      reader.sessions.set(sessionOf(data.signIn));
    }],
    ['RefreshSession', () => reader.refresh().then((ok) => assert.ok(ok, 'refresh succeeded'))],
    ['SignOut', () => reader.client.mutate({ mutation: SignOutDocument, variables: { input: { refreshToken: reader.sessions.get()?.refreshToken ?? '' } } })],
  ];
  for (const [, step] of steps) {
    await step();
  }

  const hashes = new Set(persistedOperations().map((op) => op.hash));
  const sentNames = new Set<string>();
  for (const r of requests) {
    assert.equal(r.query, undefined, `${r.operationName} went by hash alone`);
    assert.ok(r.hash && hashes.has(r.hash), `${r.operationName} is registered`);
    assert.deepEqual(r.errorCodes, [], `${r.operationName} was served`);
    sentNames.add(r.operationName ?? '');
  }
  for (const [name] of steps) {
    assert.ok(sentNames.has(name), `${name} was sent`);
  }
  assert.ok(sentNames.has('SignUp') && sentNames.has('CreateArticle'));
});

test('allow-list mode: registered subscriptions run over the WebSocket, others are refused', async (t) => {
  const url = serverURL('INKWELL_ALLOWLIST_URL');
  const ink = clientFor(t, { url });
  await signUp(ink);
  const article = await createArticle(ink, 'Allowed live comments');

  const events = eventQueue<CommentAddedSubscription>(
    ink.client.subscribe({ query: CommentAddedDocument, variables: { articleSlug: article.slug } }),
  );
  t.after(() => events.close());
  const event = await untilLive(events, (n) =>
    ink.client.mutate({ mutation: AddCommentDocument, variables: { input: { articleSlug: article.slug, body: `allowed ${n}` } } }),
  );
  assert.match(event.commentAdded.body, /^allowed \d+$/);

  const adHoc = eventQueue<{ commentAdded: { id: string } }>(
    ink.client.subscribe({ query: gql(`subscription AdHoc($s: String!) { commentAdded(articleSlug: $s) { id } }`), variables: { s: article.slug } }),
  );
  t.after(() => adHoc.close());
  await assert.rejects(adHoc.next(5_000), (err: Error & { errors?: { extensions?: { code?: string } }[] }) => {
    assert.equal(err.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_ALLOWED');
    return true;
  });
});

test('allow-list mode: an unregistered query is refused with PERSISTED_QUERY_NOT_ALLOWED', async (t) => {
  const url = serverURL('INKWELL_ALLOWLIST_URL');
  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch });

  await assert.rejects(
    ink.client.query({ query: gql(`query AdHoc { articles(first: 1) { edges { node { id title } } } }`) }),
    (err: Error & { errors?: { extensions?: { code?: string } }[] }) => {
      assert.equal(err.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_ALLOWED');
      return true;
    },
  );
  assert.equal(requests.length, 1, 'refused by hash; the link does not retry with the text');

  // The text of a registered operation with one change is just as unknown.
  const { fetch: plainFetch, requests: plain } = recordingFetch();
  const noApq = clientFor(t, { url, fetch: plainFetch, persistedQueries: false });
  await assert.rejects(
    noApq.client.query({ query: gql(`query Viewer { viewer { id username email } }`) }),
    (err: Error & { errors?: { extensions?: { code?: string } }[] }) => {
      assert.equal(err.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_ALLOWED');
      return true;
    },
  );
  assert.ok(plain[0]?.query, 'sent as text without a hash');
  // The same operation as registered, sent as text without the extension, runs.
  const { data } = await noApq.client.query({ query: ViewerDocument });
  assert.equal(data?.viewer, null);
});
