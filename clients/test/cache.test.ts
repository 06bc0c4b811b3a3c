import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ArticleDocument,
  ArticlesDocument,
  FavoriteArticleDocument,
  UnfavoriteArticleDocument,
} from '../src/generated/graphql.js';
import { clientFor, createArticle, currentData, firstData, recordingFetch, serverURL, signUp } from './helpers.js';

test('favoriting updates the article shown by other queries through the normalised cache, with no refetch', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  const { username } = await signUp(author, 'author');
  const article = await createArticle(author, `Cached article by ${username}`);

  const { fetch, requests } = recordingFetch();
  const reader = clientFor(t, { url, fetch });
  await signUp(reader, 'reader');

  // The list and the article page, each watched as a component would.
  const list = reader.client.watchQuery({ query: ArticlesDocument, variables: { first: 10, filter: { author: username } } });
  const page = reader.client.watchQuery({ query: ArticleDocument, variables: { slug: article.slug, commentsFirst: 5 } });
  const [listed, shown] = await Promise.all([firstData(list), firstData(page)]);
  assert.equal(listed.articles.edges[0]?.node.id, article.id);
  assert.equal(shown.article?.id, article.id, 'one global id for the same article in both queries');
  assert.equal(shown.article?.favoritesCount, 0);
  assert.equal(shown.article?.viewerHasFavorited, false);

  const before = requests.length;
  const { data } = await reader.client.mutate({ mutation: FavoriteArticleDocument, variables: { input: { slug: article.slug } } });
  assert.equal(data?.favoriteArticle.article.favoritesCount, 1);

  const afterFavorite = requests.slice(before);
  assert.ok(afterFavorite.length > 0);
  assert.deepEqual(
    afterFavorite.map((r) => r.operationName).filter((n) => n !== 'FavoriteArticle'),
    [],
    'only the mutation went over the network',
  );
  const listItem = currentData(list).articles.edges[0]?.node;
  assert.equal(listItem?.favoritesCount, 1, 'the list shows the new count');
  assert.equal(listItem?.viewerHasFavorited, true);
  const pageArticle = currentData(page).article;
  assert.equal(pageArticle?.favoritesCount, 1, 'the article page shows the new count');
  assert.equal(pageArticle?.viewerHasFavorited, true);
  assert.equal(
    reader.client.cache.identify({ __typename: 'Article', id: article.id }),
    `Article:${article.id}`,
    'normalised by __typename and id',
  );

  const beforeUnfavorite = requests.length;
  await reader.client.mutate({ mutation: UnfavoriteArticleDocument, variables: { input: { slug: article.slug } } });
  assert.deepEqual(
    requests.slice(beforeUnfavorite).map((r) => r.operationName).filter((n) => n !== 'UnfavoriteArticle'),
    [],
  );
  assert.equal(currentData(list).articles.edges[0]?.node.favoritesCount, 0);
  assert.equal(currentData(page).article?.viewerHasFavorited, false);
});
