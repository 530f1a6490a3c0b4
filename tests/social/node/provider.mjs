// A certified OpenID Provider (panva's oidc-provider) for Dostup's social sign-in tests (tests/social).
//
//   node provider.mjs   with env  CLIENTS='[{"client_id","client_secret","redirect_uris":[…]}]'
//                                 ACCOUNTS_FILE=/path/accounts.json   ({"<login>": {claims…}}, read at each sign-in)
//                                 PORT=0 (a free port)                HOST=127.0.0.1
// prints "READY <issuer>" once it listens.  Sign-in and consent are the library's own development
// interactions (/interaction/:uid: any login, any password; «Continue»; «[ Cancel ]» = access_denied).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const host = process.env.HOST || '127.0.0.1';
const clients = JSON.parse(process.env.CLIENTS || '[]').map((c) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...c,
}));
const accountsFile = process.env.ACCOUNTS_FILE;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };

const server = http.createServer();
server.listen(Number(process.env.PORT || 0), host, () => {
  const issuer = `http://${host}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    cookies: { keys: ['dostup-social-test-cookie-key'] },
    scopes: ['openid', 'profile', 'email', 'phone'],
    // verified_claims (OpenID Connect for Identity Assurance), snils and passport: returned only when asked
    // by the claims parameter, as a bank confirming identity answers Dostup (tests/flows/test_levels_bank.py)
    claims: {
      openid: ['sub'],
      profile: ['given_name', 'family_name', 'middle_name', 'birthdate'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      verified_claims: null,
      snils: null,
      passport: null,
    },
    features: { devInteractions: { enabled: true }, claimsParameter: { enabled: true } },
    async findAccount(ctx, id) {
      const accounts = accountsFile ? JSON.parse(readFileSync(accountsFile, 'utf8')) : {};
      const claims = accounts[id] || {};
      return { accountId: id, async claims() { return { sub: id, ...claims }; } };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  console.log(`READY ${issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
