// An OpenID Connect provider for Locus's single sign-on tests: panva/oidc-provider (OpenID
// Certified) with one confidential client, a one-field login page and the people of a JSON
// file that the test writes and may rewrite between sign-ins (read at every sign-in).
//
// Environment: OIDC_TEST_PORT, OIDC_TEST_CLIENT_ID, OIDC_TEST_CLIENT_SECRET,
// OIDC_TEST_REDIRECT_URIS (space-separated), OIDC_TEST_USERS (path of the JSON file:
// {"<sub>": {"name": ..., "email": ..., "groups": [...], "amr": [...]}}).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_TEST_PORT);
const issuer = `http://127.0.0.1:${port}`;

function people() {
  return JSON.parse(fs.readFileSync(process.env.OIDC_TEST_USERS, 'utf8'));
}

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'locus-test', alg: 'RS256', use: 'sig' };
}

// Locus is a first-party client: the consent the provider would ask for is taken as given.
async function loadExistingGrant(ctx) {
  const { client, session } = ctx.oidc;
  const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
  if (grantId) {
    const existing = await ctx.oidc.provider.Grant.find(grantId);
    if (existing) return existing;
  }
  const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
  grant.addOIDCScope('openid email profile groups');
  await grant.save();
  return grant;
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_TEST_CLIENT_ID,
      client_secret: process.env.OIDC_TEST_CLIENT_SECRET,
      redirect_uris: process.env.OIDC_TEST_REDIRECT_URIS.split(' '),
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  pkce: { required: () => true },
  claims: {
    // With the openid scope: how and when the person authenticated (amr: RFC 8176), so that
    // every ID token carries them.
    openid: ['sub', 'amr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  jwks: { keys: [signingKey()] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  loadExistingGrant,
  async findAccount(ctx, sub) {
    const person = people()[sub];
    if (!person) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: person.name,
          preferred_username: sub,
          email: person.email,
          email_verified: true,
          groups: person.groups ?? [],
        };
      },
    };
  },
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, message = '') {
  return `<!doctype html><html><head><title>Test identity provider</title></head><body>
<h1>Test identity provider</h1>${message ? `<p role="alert">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">Username</label> <input id="login" name="login" autofocus>
<button type="submit">Sign in at the provider</button></form></body></html>`;
}

async function formBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// The login step: a known username signs in, with the `amr` the file gives that person.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(loginPage(details.uid));
    return;
  }
  const login = (await formBody(req)).get('login') ?? '';
  const person = people()[login];
  if (!person) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(loginPage(details.uid, `No such person: ${login}`));
    return;
  }
  const result = { login: { accountId: login, remember: false, amr: person.amr ?? ['pwd'] } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const handle = provider.callback();
http
  .createServer((req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(req, res).catch((error) => {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
      return;
    }
    handle(req, res);
  })
  .listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
