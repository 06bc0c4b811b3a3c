import assert from 'node:assert/strict';
import { test } from 'node:test';

import { gql } from '@apollo/client';
import type { TypedDocumentNode } from '@apollo/client';
import { print } from 'graphql';

import { sha256Hex } from '../src/client.js';
import { ArticleDocument, ArticlesDocument, FavoriteArticleDocument, ViewerDocument } from '../src/generated/graphql.js';
import { persistedOperations } from '../src/persisted.js';
import { clientFor, createArticle, recordingFetch, serverURL, signUp } from './helpers.js';

// A query no other test or run has sent, so the server cannot know its hash yet.
function freshQuery(): TypedDocumentNode<{ viewer: { id: string } | null }> {
  const alias = `probe_${Date.now().toString(36)}_${Math.random().toString(36).slice(2)}`;
  return gql(`query ApqProbe { ${alias}: viewer { id } }`);
}

test('automatic persisted queries: hash first, text once on PERSISTED_QUERY_NOT_FOUND, then hash only', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch });
  const probe = freshQuery();

  await ink.client.query({ query: probe, fetchPolicy: 'network-only' });
  assert.equal(requests.length, 2);
  const [hashOnly, withText] = requests;
  assert.ok(hashOnly?.hash, 'the first request carries the hash');
  assert.equal(hashOnly.query, undefined, 'and not the text');
  assert.deepEqual(hashOnly.errorCodes, ['PERSISTED_QUERY_NOT_FOUND']);
  assert.ok(withText?.query, 'the retry carries the text');
  assert.equal(withText.hash, hashOnly.hash);
  assert.equal(sha256Hex(withText.query), withText.hash, 'the hash is the SHA-256 of the text sent');
  assert.match(withText.query, /__typename/, 'Apollo added __typename before hashing');
  assert.deepEqual(withText.errorCodes, []);
  assert.equal(withText.method, 'POST');

  await ink.client.query({ query: probe, fetchPolicy: 'network-only' });
  assert.equal(requests.length, 3, 'the second identical query is one request');
  assert.equal(requests[2]?.query, undefined, 'sent by hash only');
  assert.equal(requests[2]?.hash, hashOnly.hash);
  assert.deepEqual(requests[2]?.errorCodes, []);
});

test('with useGETForHashedQueries reads go as GET by hash, mutations stay POST', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  await signUp(author);
  const article = await createArticle(author, 'Read over GET');

  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch, persistedQueries: { useGETForHashedQueries: true } });
  await signUp(ink);
  const probe = freshQuery();

  await ink.client.query({ query: probe, fetchPolicy: 'network-only' });
  await ink.client.query({ query: probe, fetchPolicy: 'network-only' });
  const reads = requests.filter((r) => r.operationName === 'ApqProbe');
  assert.deepEqual(
    reads.map((r) => [r.method, r.query === undefined ? 'hash' : 'text', r.errorCodes.join()]),
    [
      ['GET', 'hash', 'PERSISTED_QUERY_NOT_FOUND'],
      ['POST', 'text', ''],
      ['GET', 'hash', ''],
    ],
  );
  assert.ok(reads[2]?.url.searchParams.get('extensions')?.includes(reads[2].hash ?? '-'), 'the hash is in the URL');

  const { data } = await ink.client.query({ query: ArticleDocument, variables: { slug: article.slug } });
  assert.equal(data?.article?.slug, article.slug);
  assert.equal(requests.find((r) => r.operationName === 'Article')?.method, 'GET');

  const before = requests.length;
  await ink.client.mutate({ mutation: FavoriteArticleDocument, variables: { input: { slug: article.slug } } });
  const mutations = requests.slice(before);
  assert.ok(mutations.length > 0);
  assert.ok(mutations.every((r) => r.method === 'POST' && r.operationName === 'FavoriteArticle'));
});

test('the manifest holds the exact text and hash the link sends for every operation', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch });
  const manifest = new Map(persistedOperations().map((op) => [op.name, op]));

  await signUp(ink);
  const article = await createArticle(ink, 'Manifest check');
  await ink.client.query({ query: ViewerDocument });
  await ink.client.query({ query: ArticlesDocument, variables: { first: 2 } });
  await ink.client.query({ query: ArticleDocument, variables: { slug: article.slug } });

  const sent = new Set<string>();
  for (const r of requests) {
    assert.ok(r.operationName && r.hash, 'every request is hashed');
    const op = manifest.get(r.operationName);
    assert.ok(op, `${r.operationName} is in the manifest`);
    assert.equal(r.hash, op.hash, `${r.operationName}: same hash`);
    if (r.query !== undefined) {
      assert.equal(r.query, op.text, `${r.operationName}: same text`);
    }
    sent.add(r.operationName);
  }
  assert.deepEqual([...sent].sort(), ['Article', 'Articles', 'CreateArticle', 'SignUp', 'Viewer']);
  // The generated document printed as is lacks __typename: the manifest is not that.
  const viewer = manifest.get('Viewer');
  assert.ok(viewer);
  assert.notEqual(viewer.text, print(ViewerDocument));
});
