// panva's oidc-provider (OpenID Certified) configured like Dostup, for bench/oidc_bench.py.
//
//   node bench/oidc/provider.mjs PORT              (the in-memory store)
//   BENCH_REDIS_URL=redis://… node bench/oidc/provider.mjs PORT   (a Redis store)
//
// Like Dostup: one confidential client (client_secret_basic), code flow with PKCE S256 required,
// 60 s codes, 300 s access tokens, RS256 ID tokens, scopes openid profile phone, one process.
// Codes are minted out of band by POST /bench/mint?n=N (the same for Dostup: bench/oidc_bench.py
// writes them into its database), so that only the token endpoint is measured.
//
// Access tokens: Dostup issues RFC 9068 JWTs (ES256).  oidc-provider issues JWT access tokens
// only for a resource server (resource indicators, RFC 8707), so codes minted with
// `&format=jwt` carry the resource RESOURCE, whose access tokens are ES256 JWTs (`at+jwt`) with the
// scope `openid profile phone` and a 300 s life.  oidc-provider's userinfo refuses a token with an
// audience, so the userinfo runs use a code minted without it: an opaque token.
// Stores: oidc-provider's in-memory one by default (a development store: it lives and dies with
// the process, and one process only can use it), or, with BENCH_REDIS_URL, the adapter of
// oidc-provider's example for Redis (example/adapters/redis.js: a consumable model in a hash, the
// others as strings, each with its expiry; a grant's keys in a list), the store a deployment of
// several processes uses — as Dostup keeps codes and grants in its database.  Neither stores a
// JWT access token (Dostup: a row only once one is revoked on its own).
import http from 'node:http';
import crypto from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import Redis from 'ioredis';

const port = Number(process.argv[2] || 3000);
const issuer = `http://127.0.0.1:${port}`;
const REDIRECT = 'https://rp.example/cb';
const RESOURCE = 'https://api.rp.example/';
const SCOPE = 'openid profile phone';
const VERIFIER = process.env.BENCH_VERIFIER || 'bench-verifier-bench-verifier-bench-verifier-0123';
const CHALLENGE = crypto.createHash('sha256').update(VERIFIER).digest('base64url');

const store = new Map();
const byGrant = new Map();
class MapAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload) {
    store.set(this.key(id), payload);
    if (payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
      byGrant.get(payload.grantId).add(this.key(id));
    }
  }
  async find(id) { return store.get(this.key(id)); }
  async findByUid() { return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const p = store.get(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const k of byGrant.get(grantId) || []) store.delete(k);
    byGrant.delete(grantId);
  }
}

const redis = process.env.BENCH_REDIS_URL ? new Redis(process.env.BENCH_REDIS_URL, { keyPrefix: 'oidc:' }) : null;
const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);
const grantKey = (id) => `grant:${id}`;
class RedisAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const multi = redis.multi();
    if (CONSUMABLE.has(this.name)) multi.hset(key, { payload: JSON.stringify(payload) });
    else multi.set(key, JSON.stringify(payload));
    if (expiresIn) multi.expire(key, expiresIn);
    if (GRANTABLE.has(this.name) && payload.grantId) {
      multi.rpush(grantKey(payload.grantId), key);
      const ttl = await redis.ttl(grantKey(payload.grantId));
      if (expiresIn > ttl) multi.expire(grantKey(payload.grantId), expiresIn);
    }
    await multi.exec();
  }
  async find(id) {
    const key = this.key(id);
    if (CONSUMABLE.has(this.name)) {
      const { payload, consumed } = await redis.hgetall(key);
      if (!payload) return undefined;
      return { ...JSON.parse(payload), ...(consumed ? { consumed: true } : {}) };
    }
    const data = await redis.get(key);
    return data ? JSON.parse(data) : undefined;
  }
  async findByUid() { return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { await redis.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000)); }
  async destroy(id) { await redis.del(this.key(id)); }
  async revokeByGrantId(grantId) {
    const multi = redis.multi();
    const keys = await redis.lrange(grantKey(grantId), 0, -1);
    keys.forEach((k) => multi.del(k)); // the list holds the keys as given (ioredis prefixes them)
    multi.del(grantKey(grantId));
    await multi.exec();
  }
}

async function jwk(alg, opts) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...opts });
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: `${alg.toLowerCase()}-1` };
}

const provider = new Provider(issuer, {
  adapter: redis ? RedisAdapter : MapAdapter,
  clients: [{
    client_id: 'bench', client_secret: 'bench-secret-0123456789-bench-secret-0123456789',
    redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [await jwk('RS256', { modulusLength: 2048 }), await jwk('ES256')] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'phone', 'offline_access'],
  // acr, amr and auth_time in every ID token, as Dostup's carry them (oidc-provider's default: on request)
  claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], profile: ['family_name', 'given_name', 'name'], phone: ['phone_number', 'phone_number_verified'] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, family_name: 'Петров', given_name: 'Иван', name: 'Иван Петров',
      phone_number: '+79120000001', phone_number_verified: true }),
  }),
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: async () => true, // the code's resource, without `resource` at the token endpoint
      getResourceServerInfo: async (ctx, resource) => {
        if (resource !== RESOURCE) throw new errors.InvalidTarget();
        return { scope: SCOPE, audience: RESOURCE, accessTokenTTL: 300, accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  // Dostup's access tokens carry the sign-in's auth_time, acr and amr: so do these JWTs
  extraTokenClaims: async (ctx, token) => {
    const code = ctx.oidc.entities.AuthorizationCode;
    if (!token.resourceServer || !code) return undefined;
    return { auth_time: code.authTime, acr: code.acr, amr: code.amr };
  },
  ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 600, Grant: 3600 },
  cookies: { keys: ['bench-cookie-key-0123456789'] },
});

async function mint(n, jwt) {
  const client = await provider.Client.find('bench');
  const codes = [];
  for (let i = 0; i < n; i += 1) {
    const grant = new provider.Grant({ accountId: 'user-1', clientId: 'bench' });
    grant.addOIDCScope(SCOPE);
    if (jwt) grant.addResourceScope(RESOURCE, SCOPE);
    const grantId = await grant.save();
    const code = new provider.AuthorizationCode({
      accountId: 'user-1', client, grantId, redirectUri: REDIRECT, scope: SCOPE, ...(jwt ? { resource: RESOURCE } : {}),
      codeChallenge: CHALLENGE, codeChallengeMethod: 'S256', nonce: `n-${i}`,
      authTime: Math.floor(Date.now() / 1000), acr: 'urn:dostup:loa:1:aal1', amr: ['pwd'],
    });
    codes.push(await code.save());
  }
  return codes;
}

const callback = provider.callback();
http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/bench/mint')) {
    const params = new URL(req.url, issuer).searchParams;
    const codes = await mint(Number(params.get('n') || '1'), params.get('format') === 'jwt');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ codes, verifier: VERIFIER }));
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${issuer}\n`));
