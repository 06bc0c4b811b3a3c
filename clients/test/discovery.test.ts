import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ArticleDocument,
  BookmarkArticleDocument,
  BookmarksDocument,
  SearchArticlesDocument,
  UnbookmarkArticleDocument,
} from '../src/generated/graphql.js';
import { answered, clientFor, createArticle, currentData, firstData, recordingFetch, serverURL, signUp, uniqueName } from './helpers.js';

test('search pages with fetchMore to its end: every match once, in the order of one large page', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  await signUp(author, 'searched');
  const word = uniqueName('zq').replace(/[^a-z0-9]/gi, '').toLowerCase();
  for (let i = 1; i <= 7; i++) {
    await createArticle(author, `${word} ${'again '.repeat(i % 3)}number ${i}`);
  }

  const { fetch, requests } = recordingFetch();
  const reader = clientFor(t, { url, fetch });
  const query = reader.client.watchQuery({ query: SearchArticlesDocument, variables: { query: word, first: 3 } });
  let pageInfo = (await firstData(query)).search.pageInfo;
  let pages = 1;
  while (pageInfo.hasNextPage) {
    const more = await query.fetchMore({ variables: { after: pageInfo.endCursor } });
    pageInfo = more.data!.search.pageInfo;
    pages++;
    assert.ok(pages <= 3, 'seven results three at a time end after three pages');
  }
  assert.equal(answered(requests, 'SearchArticles').length, 3, 'one request per page');
  const paged = currentData(query).search.edges.map((e) => ('slug' in e.node ? e.node.slug : ''));
  assert.equal(new Set(paged).size, 7, 'every match once');

  const other = clientFor(t, { url });
  const { data } = await other.client.query({ query: SearchArticlesDocument, variables: { query: word, first: 20 } });
  assert.deepEqual(
    paged,
    data!.search.edges.map((e) => ('slug' in e.node ? e.node.slug : '')),
    'the same order as one page of all of them',
  );
  assert.equal(data!.search.totalCount, 7);
  assert.match(data!.search.edges[0]!.highlight, new RegExp(`<mark>${word}</mark>`, 'i'));
});

test('a bookmark shows on the watched article page with no refetch, and in the saved list', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  await signUp(author, 'saved');
  const article = await createArticle(author, uniqueName('Worth keeping '));

  const { fetch, requests } = recordingFetch();
  const reader = clientFor(t, { url, fetch });
  await signUp(reader, 'reader');
  const page = reader.client.watchQuery({ query: ArticleDocument, variables: { slug: article.slug } });
  assert.equal((await firstData(page)).article?.viewerHasBookmarked, false);

  const before = requests.length;
  const { data } = await reader.client.mutate({ mutation: BookmarkArticleDocument, variables: { input: { slug: article.slug } } });
  assert.equal(data?.bookmarkArticle.article.viewerHasBookmarked, true);
  assert.deepEqual(
    requests
      .slice(before)
      .map((r) => r.operationName)
      .filter((n) => n !== 'BookmarkArticle'),
    [],
    'only the mutation went over the network (twice the first time: persisted query hash, then text)',
  );
  assert.equal(currentData(page).article?.viewerHasBookmarked, true, 'the watched page shows it');
  const saved = await reader.client.query({ query: BookmarksDocument, variables: { first: 10 }, fetchPolicy: 'network-only' });
  assert.deepEqual(
    saved.data!.viewer?.bookmarks.edges.map((e) => e.node.slug),
    [article.slug],
  );
  assert.equal(saved.data!.viewer?.bookmarks.edges[0]?.node.viewerHasBookmarked, true);

  await reader.client.mutate({ mutation: UnbookmarkArticleDocument, variables: { input: { slug: article.slug } } });
  const after = await reader.client.query({ query: BookmarksDocument, variables: { first: 10 }, fetchPolicy: 'network-only' });
  assert.deepEqual(after.data!.viewer?.bookmarks.edges, []);
});
