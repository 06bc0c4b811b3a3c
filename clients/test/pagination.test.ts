import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ArticlesDocument } from '../src/generated/graphql.js';
import { answered, clientFor, createArticle, currentData, firstData, recordingFetch, serverURL, signUp } from './helpers.js';

test('fetchMore pages the articles list to its end; relayStylePagination merges every article once, in order', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  const { username } = await signUp(author, 'author');
  const created = [];
  for (let i = 1; i <= 7; i++) {
    created.push(await createArticle(author, `Paged article ${i} by ${username}`));
  }
  const newestFirst = created.map((a) => a.slug).reverse();

  const { fetch, requests } = recordingFetch();
  const reader = clientFor(t, { url, fetch });
  const variables = { first: 3, filter: { author: username } };
  const query = reader.client.watchQuery({ query: ArticlesDocument, variables });
  const first = await firstData(query);
  assert.equal(first.articles.edges.length, 3);

  let pageInfo = first.articles.pageInfo;
  let pages = 1;
  while (pageInfo.hasNextPage) {
    const more = await query.fetchMore({ variables: { after: pageInfo.endCursor } });
    assert.ok(more.data, `page ${pages + 1} has data`);
    pageInfo = more.data.articles.pageInfo;
    pages++;
    assert.ok(pages <= 3, 'seven articles three at a time end after three pages');
  }
  assert.equal(pages, 3);
  assert.equal(answered(requests, 'Articles').length, 3, 'one request per page');

  // The watched query and the cache both hold the merged list.
  const watched = currentData(query).articles.edges.map((e) => e.node.slug);
  assert.deepEqual(watched, newestFirst, 'every article once, newest first');

  const cached = reader.client.readQuery({ query: ArticlesDocument, variables });
  assert.ok(cached);
  const ids = cached.articles.edges.map((e) => e.node.id);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates in the merged list');
  assert.deepEqual(cached.articles.edges.map((e) => e.node.slug), newestFirst);
  assert.equal(cached.articles.pageInfo.hasNextPage, false);

  // Another filter is another list: keyArgs keeps them apart.
  const other = await reader.client.query({ query: ArticlesDocument, variables: { first: 2, filter: { author: `${username}-none` } } });
  assert.deepEqual(other.data?.articles.edges, []);
  const still = reader.client.readQuery({ query: ArticlesDocument, variables });
  assert.equal(still?.articles.edges.length, 7);
});
