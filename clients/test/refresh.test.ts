import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ArticlesDocument, FeedDocument, ViewerDocument } from '../src/generated/graphql.js';
import type { InkwellClient } from '../src/client.js';
import { answered, clientFor, recordingFetch, serverURL, signUp, sleep } from './helpers.js';

// This server's access tokens live two seconds.
async function waitForExpiry(ink: InkwellClient): Promise<void> {
  const session = ink.sessions.get();
  assert.ok(session);
  const left = Date.parse(session.expiresAt) - Date.now();
  assert.ok(left < 10_000, `the short-lived server gives short tokens (expires in ${left} ms)`);
  // Token expiry has one-second resolution.
  await sleep(Math.max(0, left) + 1_100);
}

test('an expired access token is refreshed once by the refresh link and the query retried', async (t) => {
  const url = serverURL('INKWELL_SHORT_TTL_URL');
  const { fetch, requests } = recordingFetch();
  const expired: string[] = [];
  const ink = clientFor(t, { url, fetch, onSessionExpired: () => expired.push('expired') });
  const account = await signUp(ink);
  const first = ink.sessions.get();
  assert.ok(first);

  await waitForExpiry(ink);
  const before = requests.length;
  const { data } = await ink.client.query({ query: ViewerDocument, fetchPolicy: 'network-only' });
  assert.equal(data?.viewer?.username, account.username);

  const sent = requests.slice(before);
  assert.equal(answered(sent, 'RefreshSession').length, 1, 'one refresh');
  const viewer = answered(sent, 'Viewer');
  assert.equal(viewer.length, 2, 'refused once, then retried');
  assert.equal(viewer[0]?.status, 401);
  assert.deepEqual(viewer[0]?.errorCodes, ['UNAUTHENTICATED']);
  assert.equal(viewer[1]?.status, 200);
  const second = ink.sessions.get();
  assert.ok(second);
  assert.notEqual(second.accessToken, first.accessToken);
  assert.notEqual(second.refreshToken, first.refreshToken, 'refresh tokens are single-use: the pair is replaced');
  assert.equal(viewer[1]?.headers.get('authorization'), `Bearer ${second.accessToken}`);
  assert.deepEqual(expired, []);
});

test('operations failing together share one refresh', async (t) => {
  const url = serverURL('INKWELL_SHORT_TTL_URL');
  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch });
  const account = await signUp(ink);

  await waitForExpiry(ink);
  const before = requests.length;
  const [viewer, feed, articles] = await Promise.all([
    ink.client.query({ query: ViewerDocument, fetchPolicy: 'network-only' }),
    ink.client.query({ query: FeedDocument, variables: { first: 5 }, fetchPolicy: 'network-only' }),
    ink.client.query({ query: ArticlesDocument, variables: { first: 5 }, fetchPolicy: 'network-only' }),
  ]);
  assert.equal(viewer.data?.viewer?.username, account.username);
  assert.deepEqual(feed.data?.feed.edges, []);
  assert.ok(articles.data);

  const sent = requests.slice(before);
  assert.equal(answered(sent, 'RefreshSession').length, 1, 'three refused operations, one refresh');
  for (const name of ['Viewer', 'Feed', 'Articles']) {
    assert.equal(answered(sent, name).filter((r) => r.status === 200).length, 1, `${name} retried once`);
  }
});

test('a refresh that fails ends the session and returns the original error', async (t) => {
  const url = serverURL('INKWELL_SHORT_TTL_URL');
  const expired: string[] = [];
  const ink = clientFor(t, { url, onSessionExpired: () => expired.push('expired') });
  await signUp(ink);
  const session = ink.sessions.get();
  assert.ok(session);
  // A refresh token that was never issued: the server refuses it.
  ink.sessions.set({ ...session, refreshToken: 'not-a-refresh-token' });

  await waitForExpiry(ink);
  await assert.rejects(ink.client.query({ query: ViewerDocument, fetchPolicy: 'network-only' }), (err: Error & { errors?: { extensions?: { code?: string } }[] }) => {
    assert.equal(err.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    return true;
  });
  assert.equal(ink.sessions.get(), null);
  assert.deepEqual(expired, ['expired']);
});
