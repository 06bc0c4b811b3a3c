import assert from 'node:assert/strict';
import { test } from 'node:test';

import { lsnValue } from '../src/client.js';
import { ArticleDocument, FavoriteArticleDocument } from '../src/generated/graphql.js';
import { clientFor, createArticle, recordingFetch, serverURL, signUp } from './helpers.js';

test('lsnValue reads PostgreSQL log positions and nothing else', () => {
  assert.equal(lsnValue('0/0'), 0n);
  assert.equal(lsnValue('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
  assert.ok((lsnValue('1/0') ?? 0n) > (lsnValue('0/FFFFFFFF') ?? 0n), 'the high half counts first');
  for (const bad of ['', '16', '1/2/3', 'G/0', '123456789/0', ' 1/2']) {
    assert.equal(lsnValue(bad), null, bad);
  }
});

test('the client sends the position of its latest write with the requests after it', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch });
  assert.equal(ink.positions.get(), null);

  await signUp(ink, 'writer');
  const first = ink.positions.get();
  assert.ok(first !== null && lsnValue(first) !== null, `signUp's answer gave a position: ${first}`);
  const article = await createArticle(ink, 'Read your writes');
  const second = ink.positions.get();
  assert.ok(second !== null && (lsnValue(second) ?? 0n) > (lsnValue(first) ?? 0n), 'a later write moves it on');

  const before = requests.length;
  await ink.client.query({ query: ArticleDocument, variables: { slug: article.slug }, fetchPolicy: 'network-only' });
  const read = requests.slice(before).find((r) => r.operationName === 'Article');
  assert.equal(read?.headers.get('inkwell-min-lsn'), second, 'the read carries the latest position');
  assert.deepEqual(read?.errorCodes, []);

  await ink.client.mutate({ mutation: FavoriteArticleDocument, variables: { input: { slug: article.slug } } });
  const third = ink.positions.get();
  assert.ok((lsnValue(third ?? '') ?? 0n) > (lsnValue(second ?? '') ?? 0n));
});
