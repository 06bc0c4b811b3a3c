import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CombinedGraphQLErrors } from '@apollo/client';

import { addReplyToThread } from '../src/client.js';
import {
  AddCommentDocument,
  AddReplyDocument,
  DiscussionDocument,
  ArticleDocument,
  CreateDraftDocument,
  DraftsDocument,
  EditorArticleDocument,
  PublishArticleDocument,
  RequestUploadDocument,
  SaveArticleDocument,
  SetCoverDocument,
  UpdateCommentDocument,
} from '../src/generated/graphql.js';
import { clientFor, currentData, firstData, recordingFetch, serverURL, signUp, uniqueName } from './helpers.js';

/** The operation names sent after index `from`, but for `except`. */
function sentSince(requests: { operationName?: string }[], from: number, except: string): (string | undefined)[] {
  return requests.slice(from).map((r) => r.operationName).filter((n) => n !== except);
}

test('a draft published from the editor shows as published in the watched screens, with no refetch', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const author = clientFor(t, { url, fetch });
  await signUp(author, 'editor');
  const { data } = await author.client.mutate({
    mutation: CreateDraftDocument,
    variables: { input: { title: uniqueName('Draft '), description: '', body: 'Half done.', publish: false } },
  });
  const slug = data!.createArticle.article.slug;
  assert.equal(data!.createArticle.article.status, 'DRAFT');

  const editor = author.client.watchQuery({ query: EditorArticleDocument, variables: { slug } });
  const drafts = author.client.watchQuery({ query: DraftsDocument, variables: { first: 10 } });
  const [shown, listed] = await Promise.all([firstData(editor), firstData(drafts)]);
  assert.equal(shown.article?.status, 'DRAFT');
  assert.equal(shown.article?.publishedAt, null);
  assert.equal(shown.article?.viewerCanEdit, true);
  assert.deepEqual(listed.viewer?.drafts.edges.map((e) => e.node.slug), [slug]);

  const before = requests.length;
  await author.client.mutate({ mutation: PublishArticleDocument, variables: { input: { slug } } });
  assert.deepEqual(sentSince(requests, before, 'PublishArticle'), [], 'only the mutation went over the network');
  const now = currentData(editor).article;
  assert.equal(now?.status, 'PUBLISHED', 'the editor shows the article published');
  assert.ok(now?.publishedAt);
  assert.equal(
    currentData(drafts).viewer?.drafts.edges[0]?.node.status,
    'PUBLISHED',
    'the drafts list shows the same normalised article',
  );

  // A save from a tab that read the article before it was published is refused.
  const stale = shown.article!.updatedAt;
  await assert.rejects(
    author.client.mutate({
      mutation: SaveArticleDocument,
      variables: { input: { slug, body: 'Overwritten?', expectedUpdatedAt: stale } },
    }),
    (err: unknown) =>
      CombinedGraphQLErrors.is(err) && err.errors.some((e) => e.extensions?.['code'] === 'CONFLICT'),
  );
  assert.equal(currentData(editor).article?.body, 'Half done.', 'nothing was written');
});

test('an edited comment shows its new text on the watched article page, with no refetch', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const reader = clientFor(t, { url, fetch });
  await signUp(reader, 'commenter');
  const { data } = await reader.client.mutate({
    mutation: CreateDraftDocument,
    variables: { input: { title: uniqueName('Discussed '), description: '', body: 'Text.' } },
  });
  const slug = data!.createArticle.article.slug;
  const { data: added } = await reader.client.mutate({
    mutation: AddCommentDocument,
    variables: { input: { articleSlug: slug, body: 'frist' } },
  });
  const id = added!.addComment.comment.id;

  const page = reader.client.watchQuery({ query: ArticleDocument, variables: { slug, commentsFirst: 5 } });
  const shown = await firstData(page);
  assert.equal(shown.article?.comments.edges[0]?.node.body, 'frist');

  const before = requests.length;
  const { data: edited } = await reader.client.mutate({
    mutation: UpdateCommentDocument,
    variables: { input: { id, body: 'first!' } },
  });
  assert.equal(edited?.updateComment.comment.edited, true);
  assert.deepEqual(sentSince(requests, before, 'UpdateComment'), []);
  assert.equal(currentData(page).article?.comments.edges[0]?.node.body, 'first!');
});

test('a reply shows under its parent in the watched discussion, and its edit too, with no refetch', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const reader = clientFor(t, { url, fetch });
  await signUp(reader, 'replier');
  const { data } = await reader.client.mutate({
    mutation: CreateDraftDocument,
    variables: { input: { title: uniqueName('Threaded '), description: '', body: 'Text.' } },
  });
  const slug = data!.createArticle.article.slug;
  const { data: added } = await reader.client.mutate({
    mutation: AddCommentDocument,
    variables: { input: { articleSlug: slug, body: 'a question' } },
  });
  const parentId = added!.addComment.comment.id;

  const discussion = reader.client.watchQuery({ query: DiscussionDocument, variables: { slug, first: 10 } });
  const shown = await firstData(discussion);
  assert.equal(shown.article?.comments.edges[0]?.node.repliesCount, 0);
  assert.deepEqual(shown.article?.comments.edges[0]?.node.replies.edges, []);

  const before = requests.length;
  const { data: replied } = await reader.client.mutate({
    mutation: AddReplyDocument,
    variables: { input: { articleSlug: slug, body: 'an answer', parentId } },
    update: (cache, { data }) => addReplyToThread(cache, data?.addComment.comment),
  });
  const replyId = replied!.addComment.comment.id;
  assert.equal(replied!.addComment.comment.parent?.id, parentId);
  assert.deepEqual(sentSince(requests, before, 'AddReply'), [], 'only the mutation went over the network');
  let top = currentData(discussion).article?.comments.edges[0]?.node;
  assert.equal(top?.repliesCount, 1, "the parent's count came back with the reply");
  assert.deepEqual(
    top?.replies.edges.map((e) => [e.node.id, e.node.body]),
    [[replyId, 'an answer']],
    'the reply shows under its parent',
  );

  // A reply to a reply's reply is refused: threads are two replies deep.
  const { data: deeper } = await reader.client.mutate({
    mutation: AddReplyDocument,
    variables: { input: { articleSlug: slug, body: 'deeper', parentId: replyId } },
  });
  await assert.rejects(
    reader.client.mutate({
      mutation: AddReplyDocument,
      variables: { input: { articleSlug: slug, body: 'too deep', parentId: deeper!.addComment.comment.id } },
    }),
    (err: unknown) =>
      CombinedGraphQLErrors.is(err) &&
      err.errors.some(
        (e) =>
          e.extensions?.['code'] === 'BAD_USER_INPUT' &&
          (e.extensions['fields'] as Record<string, unknown> | undefined)?.['parentId'] !== undefined,
      ),
  );

  const beforeEdit = requests.length;
  await reader.client.mutate({ mutation: UpdateCommentDocument, variables: { input: { id: replyId, body: 'a better answer' } } });
  assert.deepEqual(sentSince(requests, beforeEdit, 'UpdateComment'), []);
  top = currentData(discussion).article?.comments.edges[0]?.node;
  assert.equal(top?.replies.edges[0]?.node.body, 'a better answer', 'the edit shows in the thread');
});

// A 1×1 PNG.
const onePixelPNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

test('an image uploaded from Node becomes the cover of the watched editor, with no refetch', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const author = clientFor(t, { url, fetch });
  await signUp(author, 'uploader');
  const { data } = await author.client.mutate({
    mutation: CreateDraftDocument,
    variables: { input: { title: uniqueName('Illustrated '), description: '', body: 'Text.' } },
  });
  const slug = data!.createArticle.article.slug;
  const editor = author.client.watchQuery({ query: EditorArticleDocument, variables: { slug } });
  assert.equal((await firstData(editor)).article?.coverImage, null);

  const { data: ticket } = await author.client.mutate({
    mutation: RequestUploadDocument,
    variables: { input: { purpose: 'COVER', contentType: 'image/png', byteSize: onePixelPNG.length, alt: 'a dot' } },
  });
  const up = ticket!.requestUpload;
  assert.equal(up.asset.width, null, 'not verified before its first use');
  const sent = await globalThis.fetch(up.uploadURL, {
    method: up.method,
    headers: Object.fromEntries(up.headers.map((h) => [h.name, h.value])),
    body: onePixelPNG,
  });
  assert.equal(sent.status, 200, await sent.text());

  const before = requests.length;
  await author.client.mutate({ mutation: SetCoverDocument, variables: { input: { slug, coverImageAssetId: up.asset.id } } });
  assert.deepEqual(sentSince(requests, before, 'SetCover'), [], 'only the mutation went over the network');
  const cover = currentData(editor).article?.coverImage;
  assert.equal(cover?.id, up.asset.id);
  assert.equal(cover?.width, 1);
  assert.equal(cover?.height, 1);
  assert.equal(cover?.alt, 'a dot');

  const image = await globalThis.fetch(cover!.url);
  assert.equal(image.status, 200);
  assert.equal(image.headers.get('content-type'), 'image/png');
});
