import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ApolloClient, MaybeMasked } from '@apollo/client';
import type { Subscribable } from 'rxjs';
import { map } from 'rxjs/operators';

import type { InkwellClient } from '../src/client.js';
import { AddCommentDocument, NotificationAddedDocument, NotificationBellDocument } from '../src/generated/graphql.js';
import type { NotificationAddedSubscription } from '../src/generated/graphql.js';
import { subscribeResumable } from '../src/resume.js';
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

async function comment(ink: InkwellClient, articleSlug: string, body: string) {
  await ink.client.mutate({ mutation: AddCommentDocument, variables: { input: { articleSlug, body } } });
}

test('the notification bell resumes after a dropped socket: each notification once, in order, its count current', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const ada = clientFor(t, { url, fetch });
  await signUp(ada, 'ada');
  const article = await createArticle(ada, 'Ring the bell');
  const fans: InkwellClient[] = [];
  for (let i = 0; i < 3; i++) {
    const fan = clientFor(t, { url });
    await signUp(fan, `fan${i}`);
    fans.push(fan);
  }

  const bell = ada.client.watchQuery({ query: NotificationBellDocument, variables: { first: 5 } });
  const initial = await firstData(bell);
  assert.equal(initial.viewer?.unreadNotificationsCount, 0);
  const stream = subscribeResumable(ada, {
    query: NotificationAddedDocument,
    after: initial.viewer?.notifications.edges[0]?.node.id ?? null,
    cursorOf: (data) => data.notificationAdded.id,
  });
  const events = eventQueue<NotificationAddedSubscription>(
    stream.pipe(map((data) => ({ data }))) as unknown as Subscribable<ApolloClient.SubscribeResult<MaybeMasked<NotificationAddedSubscription>>>,
  );
  t.after(() => events.close());
  const sent: string[] = [];
  const first = await untilLive(events, async (n) => {
    sent.push(`warm-up ${n}`);
    await comment(fans[0]!, article.slug, `warm-up ${n}`);
  });
  for (const body of sent.slice(sent.indexOf(first.notificationAdded.comment?.body ?? '') + 1)) {
    assert.equal((await events.next(5_000)).notificationAdded.comment?.body, body);
  }

  // Drop the socket, and write while it is down.
  let closes = 0;
  ada.ws.on('closed', () => closes++);
  ada.ws.terminate();
  const missed: string[] = [];
  for (const [i, fan] of fans.entries()) {
    missed.push(`while away ${i}`);
    await comment(fan, article.slug, `while away ${i}`);
  }
  for (const body of missed) {
    const event = await events.next(15_000);
    assert.equal(event.notificationAdded.comment?.body, body, 'what came while the socket was down arrives, in order');
    assert.equal(event.notificationAdded.kind, 'COMMENTED');
  }
  await comment(fans[1]!, article.slug, 'live again');
  assert.equal((await events.next(15_000)).notificationAdded.comment?.body, 'live again');
  await sleep(300);
  assert.equal(events.pending(), 0, 'nothing arrives twice');
  assert.ok(closes >= 1, 'the socket was dropped');

  // The bell's count came with the stream: one unread group of comments, no refetch.
  assert.equal(currentData(bell).viewer?.unreadNotificationsCount, 1);
  assert.equal(answered(requests, 'NotificationBell').length, 1, 'the bell was read once over HTTP');
});
