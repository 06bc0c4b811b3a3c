import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sessionOf } from '../src/client.js';
import { SignInDocument, ViewerDocument } from '../src/generated/graphql.js';
import { answered, clientFor, password, recordingFetch, serverURL, signUp } from './helpers.js';

test('sign up, sign in, and the viewer query carries the token through the auth link', async (t) => {
  const url = serverURL('INKWELL_URL');
  const { fetch, requests } = recordingFetch();
  const ink = clientFor(t, { url, fetch });

  const anonymous = await ink.client.query({ query: ViewerDocument, fetchPolicy: 'network-only' });
  assert.equal(anonymous.data?.viewer, null, 'no session: anonymous viewer');
  assert.equal(answered(requests, 'Viewer').at(-1)?.headers.get('authorization'), null);

  const account = await signUp(ink);
  const signUpRequest = answered(requests, 'SignUp').at(-1);
  assert.ok(signUpRequest, 'signUp went over HTTP');
  assert.equal(signUpRequest.headers.get('authorization'), null, 'signUp is sent without a bearer token');

  const signedUp = await ink.client.query({ query: ViewerDocument, fetchPolicy: 'network-only' });
  assert.equal(signedUp.data?.viewer?.username, account.username);
  assert.equal(signedUp.data?.viewer?.email, account.email, 'only the user themself sees the email');
  assert.equal(
    answered(requests, 'Viewer').at(-1)?.headers.get('authorization'),
    `Bearer ${ink.sessions.get()?.accessToken}`,
  );

  // A second client, as after a page reload with no stored session: sign in by password.
  const other = clientFor(t, { url });
  const { data } = await other.client.mutate({
    mutation: SignInDocument,
    variables: { input: { email: account.email.toUpperCase(), password } },
  });
  assert.ok(data);
  assert.equal(data.signIn.user.username, account.username);
  other.sessions.set(sessionOf(data.signIn));
  const signedIn = await other.client.query({ query: ViewerDocument });
  assert.equal(signedIn.data?.viewer?.id, account.id);
});

test('a wrong password is refused with UNAUTHENTICATED and no token is stored', async (t) => {
  const url = serverURL('INKWELL_URL');
  const ink = clientFor(t, { url });
  const account = await signUp(ink);
  const other = clientFor(t, { url });
  await assert.rejects(
    other.client.mutate({ mutation: SignInDocument, variables: { input: { email: account.email, password: 'not the password' } } }),
    (err: Error & { errors?: { extensions?: { code?: string } }[] }) => {
      assert.equal(err.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      return true;
    },
  );
  assert.equal(other.sessions.get(), null);
});
