import t from 'tap'
import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, calculateJwkThumbprint, type JWK } from 'jose'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, registerUser, claimsOf } from '../helpers/users.js'
import { CookieJar, authorizeUrl, browse, pkcePair, redirectParams, signInOnPage } from '../helpers/authorize.js'
import { accessTokenHash } from '../../server/tokens/dpop-proof.js'

const form = 'application/x-www-form-urlencoded'
const ISSUER = 'https://id.example.com'
const TOKEN_URL = `${ISSUER}/oauth/token`
const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' }

interface ProofKey {
  privateKey: CryptoKey
  jwk: JWK
  jkt: string
}

async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
}

interface ProofOptions {
  htm?: string
  htu?: string
  iat?: number
  jti?: string
  nonce?: string
  ath?: string
  typ?: string
  alg?: string
  jwk?: JWK
}

async function proof(key: ProofKey, now: number, o: ProofOptions = {}): Promise<string> {
  return new SignJWT({
    htm: o.htm ?? 'POST',
    htu: o.htu ?? TOKEN_URL,
    jti: o.jti ?? randomUUID(),
    ...(o.nonce === undefined ? {} : { nonce: o.nonce }),
    ...(o.ath === undefined ? {} : { ath: o.ath }),
  })
    .setProtectedHeader({ typ: o.typ ?? 'dpop+jwt', alg: o.alg ?? 'ES256', jwk: o.jwk ?? key.jwk })
    .setIssuedAt(o.iat ?? Math.floor(now / 1000))
    .sign(key.privateKey)
}

/** A compact JWS with alg none (jose will not make one). */
function unsignedProof(key: ProofKey, now: number): string {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url')
  return `${part({ typ: 'dpop+jwt', alg: 'none', jwk: key.jwk })}.${part({ htm: 'POST', htu: TOKEN_URL, jti: randomUUID(), iat: Math.floor(now / 1000) })}.`
}

function tokenRequest(testApp: TestApp, body: Record<string, string>, headers: Record<string, string>) {
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': form, ...headers },
    payload: new URLSearchParams(body).toString(),
  })
}

/** The nonce dance: the first proof without a nonce is answered use_dpop_nonce and the nonce. */
async function currentNonce(testApp: TestApp, key: ProofKey, basic: string): Promise<string> {
  const res = await tokenRequest(
    testApp,
    { grant_type: 'client_credentials' },
    { authorization: basic, dpop: await proof(key, testApp.clock.now()) },
  )
  return String(res.headers['dpop-nonce'])
}

for (const dialect of testDialects()) {
  t.test(`DPoP at the token endpoint on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_ISSUER: ISSUER } })
    const client = await registerClient(testApp)
    const key = await proofKey()
    const now = () => testApp.clock.now()
    const ccWith = (dpop: string) =>
      tokenRequest(testApp, { grant_type: 'client_credentials' }, { authorization: client.basic, dpop })

    t.test('the metadata lists the DPoP algorithms', async (t) => {
      const res = await testApp.app.inject({ url: '/.well-known/oauth-authorization-server' })
      t.same(res.json().dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'RS256', 'PS256'])
    })

    t.test('a proof without the nonce is answered use_dpop_nonce with a DPoP-Nonce header', async (t) => {
      const res = await ccWith(await proof(key, now()))
      t.equal(res.statusCode, 400)
      t.match(res.headers, noStore)
      t.match(res.headers['dpop-nonce'], /^[A-Za-z0-9_-]{43}$/)
      t.same(res.json(), {
        error: 'use_dpop_nonce',
        error_description: 'the DPoP proof must carry the nonce in the DPoP-Nonce header',
      })
    })

    t.test('a proof with the nonce gets a DPoP token bound to the key', async (t) => {
      const nonce = await currentNonce(testApp, key, client.basic)
      const res = await ccWith(await proof(key, now(), { nonce }))
      t.equal(res.statusCode, 200)
      t.equal(res.json().token_type, 'DPoP')
      t.match(res.headers['dpop-nonce'], /^[A-Za-z0-9_-]{43}$/)
      t.same(claimsOf(res.json().access_token).cnf, { jkt: key.jkt })

      // Introspection answers only a client registered for it and serving the token's audience.
      const resource = await registerClient(testApp, { introspection: true })
      const introspected = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { 'content-type': form, authorization: resource.basic },
        payload: new URLSearchParams({ token: res.json().access_token }).toString(),
      })
      t.match(introspected.json(), { active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } })
    })

    t.test('nonces rotate: one from two windows ago is refused', async (t) => {
      const nonce = await currentNonce(testApp, key, client.basic)
      testApp.clock.advance(11 * 60_000)
      const res = await ccWith(await proof(key, now(), { nonce }))
      t.equal(res.json().error, 'use_dpop_nonce')
      t.not(res.headers['dpop-nonce'], nonce)
    })

    t.test('without a proof the token is a Bearer token without cnf', async (t) => {
      const res = await tokenRequest(testApp, { grant_type: 'client_credentials' }, { authorization: client.basic })
      t.equal(res.json().token_type, 'Bearer')
      t.equal(claimsOf(res.json().access_token).cnf, undefined)
    })

    t.test('proofs that fail a check are refused with invalid_dpop_proof', async (t) => {
      const nonce = await currentNonce(testApp, key, client.basic)
      const iat = Math.floor(now() / 1000)
      const hs256 = await new SignJWT({ htm: 'POST', htu: TOKEN_URL, jti: randomUUID(), nonce })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.jwk })
        .setIssuedAt()
        .sign(new TextEncoder().encode('x'.repeat(32)))
      const privateJwk = await exportJWK(key.privateKey)
      const cases: [string, string, string][] = [
        [
          'wrong htm',
          await proof(key, now(), { nonce, htm: 'GET' }),
          'the DPoP proof htm does not match the request method',
        ],
        [
          'wrong htu',
          await proof(key, now(), { nonce, htu: `${ISSUER}/oauth/revoke` }),
          'the DPoP proof htu does not match the request URI',
        ],
        [
          'htu of another host',
          await proof(key, now(), { nonce, htu: 'https://evil.example.com/oauth/token' }),
          'the DPoP proof htu does not match the request URI',
        ],
        [
          'stale iat',
          await proof(key, now(), { nonce, iat: iat - 120 }),
          'the DPoP proof iat is outside the accepted window',
        ],
        [
          'iat in the future',
          await proof(key, now(), { nonce, iat: iat + 120 }),
          'the DPoP proof iat is outside the accepted window',
        ],
        ['typ JWT', await proof(key, now(), { nonce, typ: 'JWT' }), 'the DPoP proof must have typ dpop+jwt'],
        ['alg none', unsignedProof(key, now()), 'the DPoP proof must be signed with one of ES256, EdDSA, RS256, PS256'],
        ['alg HS256', hs256, 'the DPoP proof must be signed with one of ES256, EdDSA, RS256, PS256'],
        [
          'a private jwk',
          await proof(key, now(), { nonce, jwk: privateJwk }),
          'the DPoP proof is not a valid JWS with a public jwk in its header',
        ],
        [
          'another key in the header',
          await proof(key, now(), { nonce, jwk: (await proofKey()).jwk }),
          'the DPoP proof signature does not verify',
        ],
        ['not a JWT', 'abc.def', 'the DPoP proof is not a valid JWS with a public jwk in its header'],
      ]
      for (const [name, dpop, description] of cases) {
        const res = await ccWith(dpop)
        t.equal(res.statusCode, 400, name)
        t.match(res.headers, noStore, name)
        t.same(res.json(), { error: 'invalid_dpop_proof', error_description: description }, name)
      }
    })

    t.test('the htu is compared without query and fragment, after normalisation', async (t) => {
      const nonce = await currentNonce(testApp, key, client.basic)
      const res = await ccWith(await proof(key, now(), { nonce, htu: 'HTTPS://ID.example.com:443/oauth/token?x=1#y' }))
      t.equal(res.statusCode, 200)
    })

    t.test('a replayed jti is refused, also by another instance sharing the database', async (t) => {
      const nonce = await currentNonce(testApp, key, client.basic)
      const dpop = await proof(key, now(), { nonce })
      t.equal((await ccWith(dpop)).statusCode, 200)
      t.same((await ccWith(dpop)).json(), {
        error: 'invalid_dpop_proof',
        error_description: 'the DPoP proof was already used: send a new proof with each request',
      })
      const other = await buildTestApp(t, {
        database: testApp.database,
        dataDir: testApp.dataDir,
        clock: testApp.clock,
        env: { LATCHKEY_ISSUER: ISSUER },
      })
      const res = await tokenRequest(other, { grant_type: 'client_credentials' }, { authorization: client.basic, dpop })
      t.equal(res.json().error, 'invalid_dpop_proof', 'the other instance knows the jti')
      const fresh = await proof(key, now(), { nonce })
      const accepted = await tokenRequest(
        other,
        { grant_type: 'client_credentials' },
        { authorization: client.basic, dpop: fresh },
      )
      t.equal(accepted.statusCode, 200, 'and accepts the nonce the first one issued')
    })

    t.test('two DPoP headers are refused', async (t) => {
      const nonce = await currentNonce(testApp, key, client.basic)
      const res = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          'content-type': form,
          authorization: client.basic,
          dpop: [await proof(key, now(), { nonce }), await proof(key, now(), { nonce })],
        },
        payload: 'grant_type=client_credentials',
      })
      t.same(res.json(), { error: 'invalid_dpop_proof', error_description: 'exactly one DPoP header is required' })
    })

    t.test('a client registered with require_dpop cannot get a token without a proof', async (t) => {
      const strict = await registerClient(testApp, { requireDpop: true })
      const res = await tokenRequest(testApp, { grant_type: 'client_credentials' }, { authorization: strict.basic })
      t.equal(res.statusCode, 400)
      t.same(res.json(), {
        error: 'invalid_dpop_proof',
        error_description: 'this client must send a DPoP proof with its token requests',
      })
      const nonce = await currentNonce(testApp, key, strict.basic)
      const ok = await tokenRequest(
        testApp,
        { grant_type: 'client_credentials' },
        { authorization: strict.basic, dpop: await proof(key, now(), { nonce }) },
      )
      t.equal(ok.json().token_type, 'DPoP')
    })

    t.test('every algorithm in the metadata is accepted', async (t) => {
      for (const alg of ['EdDSA', 'RS256', 'PS256']) {
        const k = await proofKey(alg)
        const nonce = await currentNonce(testApp, key, client.basic)
        const res = await ccWith(await proof(k, now(), { nonce, alg }))
        t.equal(res.statusCode, 200, alg)
        t.same(claimsOf(res.json().access_token).cnf, { jkt: k.jkt }, alg)
      }
    })

    t.test('a public client: code and refresh bound to the key, userinfo with the DPoP scheme', async (t) => {
      await registerUser(testApp, 'ada@example.com', PASSWORD)
      const redirectUri = 'https://app.example.com/cb'
      const app = await registerClient(testApp, {
        type: 'public',
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['openid', 'email'],
        audiences: [],
        redirectUris: [redirectUri],
        firstParty: true,
      })
      const pkce = pkcePair()
      const jar = new CookieJar()
      const page = await browse(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri, challenge: pkce.challenge, scope: 'openid email', state: 's' }),
      )
      const code = redirectParams(await signInOnPage(testApp, jar, page.body, 'ada@example.com')).get('code')!
      const codeBody = {
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: pkce.verifier,
        client_id: app.id,
      }
      let nonce = await currentNonce(testApp, key, client.basic)
      const issued = await tokenRequest(testApp, codeBody, { dpop: await proof(key, now(), { nonce }) })
      t.equal(issued.statusCode, 200)
      t.equal(issued.json().token_type, 'DPoP')
      const accessToken = issued.json().access_token as string
      t.same(claimsOf(accessToken).cnf, { jkt: key.jkt })
      const refresh = (dpop?: string) =>
        tokenRequest(
          testApp,
          { grant_type: 'refresh_token', refresh_token: issued.json().refresh_token, client_id: app.id },
          dpop === undefined ? {} : { dpop },
        )

      const withoutProof = await refresh()
      t.same(withoutProof.json(), {
        error: 'invalid_dpop_proof',
        error_description: 'this refresh token is bound to a DPoP key: send a DPoP proof',
      })
      const otherKey = await proofKey()
      nonce = String(withoutProof.headers['dpop-nonce'] ?? (await currentNonce(testApp, key, client.basic)))
      const withOtherKey = await refresh(await proof(otherKey, now(), { nonce }))
      t.same(withOtherKey.json(), {
        error: 'invalid_grant',
        error_description: 'the refresh token is bound to another DPoP key',
      })
      const refreshed = await refresh(await proof(key, now(), { nonce }))
      t.equal(refreshed.statusCode, 200, 'the refused attempts did not use the refresh token up')
      t.same(claimsOf(refreshed.json().access_token).cnf, { jkt: key.jkt })

      const userinfo = (authorization: string, dpop?: string) =>
        testApp.app.inject({
          method: 'GET',
          url: '/oauth/userinfo',
          headers: { authorization, ...(dpop === undefined ? {} : { dpop }) },
        })
      const htu = `${ISSUER}/oauth/userinfo`
      const ath = accessTokenHash(accessToken)
      const ok = await userinfo(`DPoP ${accessToken}`, await proof(key, now(), { htm: 'GET', htu, ath }))
      t.equal(ok.statusCode, 200)
      t.equal(ok.json().email, 'ada@example.com')

      const asBearer = await userinfo(`Bearer ${accessToken}`)
      t.equal(asBearer.statusCode, 401)
      t.equal(asBearer.headers['www-authenticate'], 'DPoP error="invalid_token", algs="ES256 EdDSA RS256 PS256"')
      t.equal(asBearer.json().error, 'invalid_token')

      const noAth = await userinfo(`DPoP ${accessToken}`, await proof(key, now(), { htm: 'GET', htu }))
      t.equal(noAth.statusCode, 401)
      t.same(noAth.json(), {
        error: 'invalid_dpop_proof',
        error_description: 'the DPoP proof ath does not match the access token',
      })
      const wrongKey = await userinfo(`DPoP ${accessToken}`, await proof(otherKey, now(), { htm: 'GET', htu, ath }))
      t.same(wrongKey.json(), {
        error: 'invalid_dpop_proof',
        error_description: 'the DPoP proof is not signed by the key the token is bound to',
      })
      t.equal(wrongKey.headers['www-authenticate'], 'DPoP error="invalid_dpop_proof", algs="ES256 EdDSA RS256 PS256"')
      const noProof = await userinfo(`DPoP ${accessToken}`)
      t.same(noProof.json(), { error: 'invalid_dpop_proof', error_description: 'a DPoP proof is required' })
    })

    t.test('userinfo answers a bad token sent with the DPoP scheme with a DPoP challenge', async (t) => {
      for (const authorization of ['DPoP abc.def.ghi', 'dpop abc.def.ghi']) {
        const res = await testApp.app.inject({ url: '/oauth/userinfo', headers: { authorization, dpop: 'x' } })
        t.equal(res.statusCode, 401, authorization)
        t.equal(res.headers['www-authenticate'], 'DPoP error="invalid_token", algs="ES256 EdDSA RS256 PS256"')
        t.equal(res.json().error, 'invalid_token')
      }
      const bearer = await testApp.app.inject({
        url: '/oauth/userinfo',
        headers: { authorization: 'Bearer abc.def.ghi' },
      })
      t.equal(bearer.headers['www-authenticate'], 'Bearer realm="latchkey", error="invalid_token"')
    })

    t.test('a public client that starts DPoP at the refresh gets its refresh token bound (RFC 9449 §5)', async (t) => {
      await registerUser(testApp, 'grace@example.com', PASSWORD)
      const redirectUri = 'https://app.example.com/cb'
      const app = await registerClient(testApp, {
        type: 'public',
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['openid'],
        audiences: [],
        redirectUris: [redirectUri],
        firstParty: true,
      })
      const codeTokens = async () => {
        const pkce = pkcePair()
        const jar = new CookieJar()
        const url = authorizeUrl({
          clientId: app.id,
          redirectUri,
          challenge: pkce.challenge,
          scope: 'openid',
          state: 's',
        })
        const page = await browse(testApp, jar, url)
        const code = redirectParams(await signInOnPage(testApp, jar, page.body, 'grace@example.com')).get('code')!
        const res = await tokenRequest(
          testApp,
          {
            grant_type: 'authorization_code',
            code,
            redirect_uri: redirectUri,
            code_verifier: pkce.verifier,
            client_id: app.id,
          },
          {},
        )
        t.equal(res.json().token_type, 'Bearer', 'the code was exchanged without a proof')
        return res.json().refresh_token as string
      }
      const refresh = (refreshToken: string, dpop?: string) =>
        tokenRequest(
          testApp,
          { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: app.id },
          dpop === undefined ? {} : { dpop },
        )
      const nonce = await currentNonce(testApp, key, client.basic)

      const bound = await refresh(await codeTokens(), await proof(key, now(), { nonce }))
      t.equal(bound.statusCode, 200)
      t.equal(bound.json().token_type, 'DPoP')
      const stolen = bound.json().refresh_token as string
      t.same((await refresh(stolen)).json(), {
        error: 'invalid_dpop_proof',
        error_description: 'this refresh token is bound to a DPoP key: send a DPoP proof',
      })
      const thief = await proofKey()
      t.same((await refresh(stolen, await proof(thief, now(), { nonce }))).json(), {
        error: 'invalid_grant',
        error_description: 'the refresh token is bound to another DPoP key',
      })
      const owner = await refresh(stolen, await proof(key, now(), { nonce }))
      t.equal(owner.statusCode, 200, 'the key that bound it still refreshes')

      const racing = await codeTokens()
      const results = await Promise.all(
        [key, thief].map(async (k) => refresh(racing, await proof(k, now(), { nonce }))),
      )
      t.same(
        results.map((r) => r.statusCode).sort(),
        [200, 400],
        'of two first refreshes with different keys only one is bound and answered',
      )
    })
  })
}

t.test('with Redis the proof jti store is shared through Redis', async (t) => {
  const env = { LATCHKEY_ISSUER: ISSUER, REDIS_URL: 'redis://127.0.0.1:6379' }
  const first = await buildTestApp(t, { env })
  const second = await buildTestApp(t, { env, database: first.database, dataDir: first.dataDir, clock: first.clock })
  const client = await registerClient(first)
  const key = await proofKey()
  const nonce = await currentNonce(first, key, client.basic)
  const dpop = await proof(key, first.clock.now(), { nonce })
  const send = (app: TestApp) =>
    tokenRequest(app, { grant_type: 'client_credentials' }, { authorization: client.basic, dpop })
  t.equal((await send(first)).statusCode, 200)
  t.equal((await send(second)).json().error, 'invalid_dpop_proof')
  const rows = await first.deps.db.selectFrom('dpop_proof_jtis').select('id').execute()
  t.same(rows, [], 'nothing went to the database')
})
