import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import {
  AddCommentDocument,
  ArticleDocument,
  ArticleFavoriteChangedDocument,
  CommentAddedDocument,
  FavoriteArticleDocument,
  FeedArticleAddedDocument,
  FollowUserDocument,
  UnfavoriteArticleDocument,
} from '../src/generated/graphql.js';
import type { InkwellClient } from '../src/client.js';
import type {
  ArticleFavoriteChangedSubscription,
  CommentAddedSubscription,
  FeedArticleAddedSubscription,
} from '../src/generated/graphql.js';
import {
  answered,
  clientFor,
  createArticle,
  currentData,
  eventQueue,
  firstData,
  recordingFetch,
  serverURL,
  signUp,
  sleep,
  untilLive,
} from './helpers.js';

async function addComment(ink: InkwellClient, articleSlug: string, body: string) {
  const { data } = await ink.client.mutate({ mutation: AddCommentDocument, variables: { input: { articleSlug, body } } });
  assert.ok(data);
  return data.addComment.comment;
}

test('commentAdded arrives over the WebSocket link with the comment body and author', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  await signUp(author, 'author');
  const article = await createArticle(author, 'Live comments');

  const reader = clientFor(t, { url });
  await signUp(reader, 'reader');
  const commenter = clientFor(t, { url });
  const { username } = await signUp(commenter, 'commenter');

  const events = eventQueue<CommentAddedSubscription>(reader.client.subscribe({ query: CommentAddedDocument, variables: { articleSlug: article.slug } }));
  t.after(() => events.close());
  const sent: string[] = [];
  const first = await untilLive(events, async (n) => {
    sent.push(`warm-up ${n}`);
    await addComment(commenter, article.slug, `warm-up ${n}`);
  });
  assert.ok(sent.includes(first.commentAdded.body));

  // A warm-up comment may have arrived late, during the next attempt: the ones after it
  // are still coming, in the order they were written.
  for (const body of sent.slice(sent.indexOf(first.commentAdded.body) + 1)) {
    assert.equal((await events.next(5_000)).commentAdded.body, body);
  }
  const comment = await addComment(commenter, article.slug, 'Hello over WebSocket');
  const event = await events.next(5_000);
  assert.equal(event.commentAdded.id, comment.id);
  assert.equal(event.commentAdded.body, 'Hello over WebSocket');
  assert.equal(event.commentAdded.author.username, username);
  assert.equal((event.commentAdded as { __typename?: string }).__typename, 'Comment', 'subscriptions carry __typename for the cache too');
});

test('articleFavoriteChanged updates a watched article in the normalised cache, with no HTTP request', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  await signUp(author, 'author');
  const article = await createArticle(author, 'Live favorites');

  const { fetch, requests } = recordingFetch();
  const watcher = clientFor(t, { url, fetch });
  const page = watcher.client.watchQuery({ query: ArticleDocument, variables: { slug: article.slug } });
  assert.equal((await firstData(page)).article?.favoritesCount, 0);
  const events = eventQueue<ArticleFavoriteChangedSubscription>(
    watcher.client.subscribe({ query: ArticleFavoriteChangedDocument, variables: { slug: article.slug } }),
  );
  t.after(() => events.close());

  const fan = clientFor(t, { url });
  await signUp(fan, 'fan');
  let favorited = false;
  const first = await untilLive(events, async () => {
    const mutation = favorited ? UnfavoriteArticleDocument : FavoriteArticleDocument;
    favorited = !favorited;
    await fan.client.mutate({ mutation, variables: { input: { slug: article.slug } } });
  });
  // Drain the toggles still on their way: the last event is the current count.
  let count = first.articleFavoriteChanged.favoritesCount;
  while (count !== (favorited ? 1 : 0)) {
    count = (await events.next(5_000)).articleFavoriteChanged.favoritesCount;
  }

  const before = requests.length;
  const other = clientFor(t, { url });
  await signUp(other, 'other');
  await other.client.mutate({ mutation: FavoriteArticleDocument, variables: { input: { slug: article.slug } } });
  const event = await events.next(5_000);
  assert.equal(event.articleFavoriteChanged.id, article.id);
  assert.equal(event.articleFavoriteChanged.favoritesCount, count + 1);
  assert.equal(currentData(page).article?.favoritesCount, count + 1, 'the watched article shows the live count');
  assert.equal(requests.length, before, 'no refetch over HTTP');
});

test('feedArticleAdded is authorised by the token in connection_init', async (t) => {
  const url = serverURL('INKWELL_URL');
  const author = clientFor(t, { url });
  const { username: authorName } = await signUp(author, 'author');
  const stranger = clientFor(t, { url });
  await signUp(stranger, 'stranger');
  const reader = clientFor(t, { url });
  await signUp(reader, 'reader');
  await reader.client.mutate({ mutation: FollowUserDocument, variables: { input: { username: authorName } } });

  const events = eventQueue<FeedArticleAddedSubscription>(reader.client.subscribe({ query: FeedArticleAddedDocument }));
  t.after(() => events.close());
  const sent: string[] = [];
  const first = await untilLive(events, async (n) => {
    sent.push((await createArticle(author, `Feed warm-up ${n} ${authorName}`)).slug);
  });
  for (const slug of sent.slice(sent.indexOf(first.feedArticleAdded.slug) + 1)) {
    assert.equal((await events.next(5_000)).feedArticleAdded.slug, slug);
  }

  await createArticle(stranger, 'Not followed');
  const followed = await createArticle(author, `Fresh in the feed ${authorName}`);
  const event = await events.next(5_000);
  assert.equal(event.feedArticleAdded.id, followed.id, 'only articles by followed authors arrive');
  assert.equal(event.feedArticleAdded.author.username, authorName);

  // The same subscription from a client with no session is refused.
  const anonymous = clientFor(t, { url });
  const refused = eventQueue<FeedArticleAddedSubscription>(anonymous.client.subscribe({ query: FeedArticleAddedDocument }));
  t.after(() => refused.close());
  await assert.rejects(refused.next(5_000), (err: Error & { errors?: { extensions?: { code?: string } }[] }) => {
    assert.equal(err.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    return true;
  });
});

test('a socket closed for an expired token reconnects with a refreshed one and the subscription goes on', async (t) => {
  const url = serverURL('INKWELL_SHORT_TTL_URL');
  const author = clientFor(t, { url });
  await signUp(author, 'author');
  const article = await createArticle(author, 'Comments past expiry');

  const { fetch, requests } = recordingFetch();
  const reader = clientFor(t, { url, fetch });
  await signUp(reader, 'reader');
  const closes: number[] = [];
  reader.ws.on('closed', (event) => closes.push((event as { code: number }).code));
  const firstToken = reader.sessions.get()?.accessToken;

  const events = eventQueue<CommentAddedSubscription>(
    reader.client.subscribe({ query: CommentAddedDocument, variables: { articleSlug: article.slug } }),
  );
  t.after(() => events.close());
  // The comments are written by the author, whose own client refreshes its token as needed.
  await untilLive(events, (n) => addComment(author, article.slug, `before expiry ${n}`));

  // The server closes the socket when the token expires (4403); graphql-ws reconnects
  // after a back-off, and connectionParams refreshes the token first.
  const deadline = Date.now() + 20_000;
  while (!closes.includes(4403) || reader.sessions.get()?.accessToken === firstToken) {
    assert.ok(Date.now() < deadline, `no reconnect with a new token (closes: ${closes.join()})`);
    await sleep(200);
  }
  // Whatever came over the old socket is in the queue already; what comes now is new.
  while (events.pending() > 0) {
    await events.next(0);
  }
  const live = await untilLive(events, (n) => addComment(author, article.slug, `after expiry ${n}`));
  assert.match(live.commentAdded.body, /^after expiry/);
  assert.ok(answered(requests, 'RefreshSession').length >= 1, 'the token was refreshed over HTTP');
});

test('an unreachable WebSocket fails the subscription with an error', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));

  const ink = clientFor(t, { url: `http://127.0.0.1:${port}`, wsOptions: { retryAttempts: 0 } });
  const events = eventQueue<CommentAddedSubscription>(
    ink.client.subscribe({ query: CommentAddedDocument, variables: { articleSlug: 'any' } }),
  );
  t.after(() => events.close());
  await assert.rejects(events.next(5_000), /WebSocket error/);
});
