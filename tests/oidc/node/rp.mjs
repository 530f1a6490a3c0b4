// A relying party built on panva's openid-client (OpenID Certified), driven by tests/oidc/test_interop.py.
//
// Protocol on stdio, one JSON object per line: this script prints {"step": "authorize", "url": …} and
// reads back the URL the browser was redirected to; then prints {"step": "logout", "url": …} and reads
// the post-logout URL; finally prints {"step": "done", "results": …}.  Any failed check throws (exit 1).
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri, postLogoutUri] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const ask = async (obj) => { say(obj); return (await lines.next()).value; };
const check = (ok, what) => { if (!ok) throw new Error(`check failed: ${what}`); };
const refused = async (promise) => {
  try { await promise; return null; } catch (err) { return err.error || err.code || err.message; }
};

const auth = clientSecret === '-' ? client.None() : client.ClientSecretBasic(clientSecret);
const config = await client.discovery(new URL(issuer), clientId, clientSecret === '-' ? undefined : clientSecret,
  auth, { execute: [client.allowInsecureRequests] });
const meta = config.serverMetadata();
check(meta.issuer === issuer, 'issuer');

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile phone offline_access', prompt: 'consent', state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
});
const callback = await ask({ step: 'authorize', url: url.href });

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
check(meta.acr_values_supported.includes(claims.acr), 'acr is one of acr_values_supported');
check(typeof claims.auth_time === 'number' && Array.isArray(claims.amr), 'auth_time and amr');
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
check(info.sub === claims.sub, 'userinfo sub');

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'refresh token rotated');
const afterRefresh = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);

let introspected = null;
if (clientSecret !== '-') {
  introspected = await client.tokenIntrospection(config, refreshed.access_token);
  check(introspected.active === true, 'introspection: active');
}
await client.tokenRevocation(config, refreshed.refresh_token);
const refreshAfterRevoke = await refused(client.refreshTokenGrant(config, refreshed.refresh_token));
const userinfoAfterRevoke = await refused(client.fetchUserInfo(config, refreshed.access_token, claims.sub));
const reuse = await refused(client.refreshTokenGrant(config, tokens.refresh_token));

const logoutUrl = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogoutUri, state: 'bye-state',
});
const landed = await ask({ step: 'logout', url: logoutUrl.href });

say({ step: 'done', results: {
  sub: claims.sub, acr: claims.acr, amr: claims.amr, nonce_ok: claims.nonce === nonce,
  userinfo: info, userinfo_after_refresh: afterRefresh.sub === claims.sub,
  id_token_alg: JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg,
  introspected_active: introspected ? introspected.active : null,
  refresh_after_revoke: refreshAfterRevoke, userinfo_after_revoke: userinfoAfterRevoke, reuse_after_rotation: reuse,
  logout_landed: landed,
} });
process.exit(0);
