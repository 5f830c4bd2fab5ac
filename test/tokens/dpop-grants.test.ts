import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, registerClient, type TestClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import {
  DEVICE_CODE_GRANT,
  answerDeviceInBrowser,
  pollDeviceToken,
  requestDeviceAuthorization,
} from '../helpers/device.js'
import { makeProof, proofKey, type ProofKey } from '../helpers/dpop.js'
import { CookieJar, authorizeUrl, browse, pkcePair, redirectParams, signInOnPage } from '../helpers/authorize.js'
import { PASSWORD, claimsOf, registerUser } from '../helpers/users.js'

// RFC 9449 at the grants that came after the first DPoP work: the device-code grant (RFC 8628),
// token exchange (RFC 8693), and dpop_jkt at the authorization endpoint (RFC 9449 §10).

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const NOTES = 'https://notes.example'
const CALENDAR = 'https://calendar.example'
const REDIRECT = 'https://app.example.com/cb'
const form = 'application/x-www-form-urlencoded'
const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' }

for (const dialect of testDialects()) {
  t.test(`DPoP with the device, token-exchange and code grants on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app, clock } = testApp
    const tokenUrl = `${testApp.config.issuer}/oauth/token`
    await registerUser(testApp, 'ada@example.com', PASSWORD)
    const tv = await registerClient(testApp, {
      name: 'Living-room TV',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'],
      scopes: ['openid', 'notes:read'],
      audiences: [NOTES],
    })
    const notesService = await registerClient(testApp, {
      name: 'Notes service',
      grantTypes: [TOKEN_EXCHANGE],
      scopes: [],
      audiences: [NOTES, CALENDAR],
    })

    // RFC 9449 §8: the server nonce, learnt from the first use_dpop_nonce answer and kept.
    let nonce: string | undefined
    const proof = (key: ProofKey) => makeProof(key, clock.now(), { htm: 'POST', htu: tokenUrl, nonce })
    /** A token request with a fresh proof of key, sent once more with the server's nonce if it asks. */
    const withProof = async (
      key: ProofKey,
      send: (dpop: string) => Promise<LightMyRequestResponse>,
    ): Promise<LightMyRequestResponse> => {
      const first = await send(await proof(key))
      if (first.statusCode !== 400 || first.json().error !== 'use_dpop_nonce') return first
      nonce = String(first.headers['dpop-nonce'])
      return send(await proof(key))
    }
    const tokenRequest = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form, ...headers },
        payload: new URLSearchParams(body).toString(),
      })
    const refresh = (client: TestClient, refreshToken: string, headers: Record<string, string> = {}) =>
      tokenRequest(
        {
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          ...(client.secret === '' ? { client_id: client.id } : {}),
        },
        client.secret === '' ? headers : { authorization: client.basic, ...headers },
      )
    /** A device sign-in the user has allowed, ready to be collected. */
    const approvedDeviceCode = async (client: TestClient, scope: string): Promise<string> => {
      const started = (await requestDeviceAuthorization(testApp, client, { scope, resource: NOTES })).json<{
        device_code: string
        verification_uri_complete: string
      }>()
      await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'allow')
      return started.device_code
    }
    /** The user's tokens for the notes service through the device flow, bound to key when given. */
    const deviceTokens = async (client: TestClient, key?: ProofKey) => {
      const deviceCode = await approvedDeviceCode(client, 'notes:read')
      const res =
        key === undefined
          ? await pollDeviceToken(testApp, client, deviceCode)
          : await withProof(key, (dpop) => pollDeviceToken(testApp, client, deviceCode, { dpop }))
      if (res.statusCode !== 200) throw new Error(`no device tokens: ${res.body}`)
      return res.json<{ access_token: string; refresh_token?: string; token_type: string }>()
    }

    t.test('a device polling with a proof gets a DPoP token, and its refresh tokens need the same key', async (t) => {
      const key = await proofKey()
      const started = (
        await requestDeviceAuthorization(testApp, tv, { scope: 'openid notes:read', resource: NOTES })
      ).json<{ device_code: string; verification_uri_complete: string }>()
      const pending = await withProof(key, (dpop) => pollDeviceToken(testApp, tv, started.device_code, { dpop }))
      t.equal(pending.statusCode, 400)
      t.same(pending.json(), {
        error: 'authorization_pending',
        error_description: 'the user has not yet approved or denied this sign-in',
      })
      await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'allow')
      clock.advance(10_000)

      const res = await withProof(key, (dpop) => pollDeviceToken(testApp, tv, started.device_code, { dpop }))
      t.equal(res.statusCode, 200)
      t.match(res.headers, noStore)
      t.match(res.headers['dpop-nonce'], /^[A-Za-z0-9_-]{43}$/, 'the next nonce comes with the answer')
      const body = res.json()
      t.same(Object.keys(body).sort(), [
        'access_token',
        'expires_in',
        'id_token',
        'refresh_token',
        'scope',
        'token_type',
      ])
      t.match(body, { token_type: 'DPoP', expires_in: 600, scope: 'openid notes:read' })
      t.same(claimsOf(body.access_token).cnf, { jkt: key.jkt })

      t.same((await refresh(tv, body.refresh_token)).json(), {
        error: 'invalid_dpop_proof',
        error_description: 'this refresh token is bound to a DPoP key: send a DPoP proof',
      })
      const thief = await proofKey()
      const stolen = await withProof(thief, (dpop) => refresh(tv, body.refresh_token, { dpop }))
      t.equal(stolen.statusCode, 400)
      t.same(stolen.json(), {
        error: 'invalid_grant',
        error_description: 'the refresh token is bound to another DPoP key',
      })
      const refreshed = await withProof(key, (dpop) => refresh(tv, body.refresh_token, { dpop }))
      t.equal(refreshed.statusCode, 200, 'the refused attempts did not use the refresh token up')
      t.equal(refreshed.json().token_type, 'DPoP')
      t.same(claimsOf(refreshed.json().access_token).cnf, { jkt: key.jkt })
    })

    t.test('a device polling without a proof still gets Bearer tokens, unbound', async (t) => {
      const tokens = await deviceTokens(tv)
      t.equal(tokens.token_type, 'Bearer')
      t.equal(claimsOf(tokens.access_token).cnf, undefined)
      const refreshed = await refresh(tv, tokens.refresh_token!)
      t.equal(refreshed.statusCode, 200)
      t.equal(refreshed.json().token_type, 'Bearer')
    })

    t.test('a confidential device client: the access token is bound, its refresh tokens are not', async (t) => {
      const kiosk = await registerClient(testApp, {
        name: 'Kiosk',
        grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'],
        scopes: ['notes:read'],
        audiences: [NOTES],
      })
      const key = await proofKey()
      const tokens = await deviceTokens(kiosk, key)
      t.equal(tokens.token_type, 'DPoP')
      t.same(claimsOf(tokens.access_token).cnf, { jkt: key.jkt })
      // RFC 9449 §5: a confidential client authenticates at each refresh, so the token stays unbound.
      const refreshed = await refresh(kiosk, tokens.refresh_token!)
      t.equal(refreshed.statusCode, 200)
      t.equal(refreshed.json().token_type, 'Bearer')
    })

    t.test('a client registered with require_dpop gets nothing from any grant without a proof', async (t) => {
      const strictTv = await registerClient(testApp, {
        name: 'Strict TV',
        type: 'public',
        grantTypes: [DEVICE_CODE_GRANT],
        scopes: ['notes:read'],
        audiences: [NOTES],
        requireDpop: true,
      })
      const strictService = await registerClient(testApp, {
        name: 'Strict service',
        grantTypes: [TOKEN_EXCHANGE],
        scopes: [],
        audiences: [NOTES, CALENDAR],
        requireDpop: true,
      })
      const refused = {
        error: 'invalid_dpop_proof',
        error_description: 'this client must send a DPoP proof with its token requests',
      }
      const deviceCode = await approvedDeviceCode(strictTv, 'notes:read')
      const polled = await pollDeviceToken(testApp, strictTv, deviceCode)
      t.equal(polled.statusCode, 400)
      t.match(polled.headers, noStore)
      t.same(polled.json(), refused)
      const key = await proofKey()
      const collected = await withProof(key, (dpop) => pollDeviceToken(testApp, strictTv, deviceCode, { dpop }))
      t.equal(collected.statusCode, 200, 'the refused poll did not use the device code up')
      t.equal(collected.json().token_type, 'DPoP')

      const subject = (await deviceTokens(tv)).access_token
      const exchangeBody = {
        grant_type: TOKEN_EXCHANGE,
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: CALENDAR,
      }
      const exchanged = await tokenRequest(exchangeBody, { authorization: strictService.basic })
      t.equal(exchanged.statusCode, 400)
      t.same(exchanged.json(), refused)
      const bound = await withProof(key, (dpop) =>
        tokenRequest(exchangeBody, { authorization: strictService.basic, dpop }),
      )
      t.equal(bound.json().token_type, 'DPoP')
    })

    const exchange = (subjectToken: string, headers: Record<string, string> = {}) =>
      tokenRequest(
        {
          grant_type: TOKEN_EXCHANGE,
          subject_token: subjectToken,
          subject_token_type: ACCESS_TOKEN_TYPE,
          audience: CALENDAR,
        },
        { authorization: notesService.basic, ...headers },
      )

    t.test("an exchange with a proof issues a token bound to the exchanging service's key", async (t) => {
      const subject = (await deviceTokens(tv)).access_token
      const serviceKey = await proofKey()
      const res = await withProof(serviceKey, (dpop) => exchange(subject, { dpop }))
      t.equal(res.statusCode, 200)
      t.match(res.headers, noStore)
      const body = res.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'])
      t.match(body, { token_type: 'DPoP', issued_token_type: ACCESS_TOKEN_TYPE, scope: 'notes:read' })
      const claims = claimsOf(body.access_token)
      t.same(claims.cnf, { jkt: serviceKey.jkt })
      t.same(claims.act, { sub: notesService.id })
      t.equal(claims.aud, CALENDAR)
    })

    t.test('a DPoP-bound subject token is exchanged only with a proof of its own key', async (t) => {
      const tvKey = await proofKey()
      const subject = (await deviceTokens(tv, tvKey)).access_token
      t.same(claimsOf(subject).cnf, { jkt: tvKey.jkt })

      const asBearer = await exchange(subject)
      t.equal(asBearer.statusCode, 400)
      t.match(asBearer.headers, noStore)
      t.same(asBearer.json(), {
        error: 'invalid_request',
        error_description: 'subject_token is DPoP-bound: the request must carry a DPoP proof of its key',
      })
      const rebound = await withProof(await proofKey(), (dpop) => exchange(subject, { dpop }))
      t.equal(rebound.statusCode, 400)
      t.same(rebound.json(), {
        error: 'invalid_request',
        error_description: 'subject_token is bound to another DPoP key than the proof',
      })
      const failures = await testApp.deps.db
        .selectFrom('audit_events')
        .select('details')
        .where('event', '=', 'token_exchange.failed')
        .where('client_id', '=', notesService.id)
        .execute()
      t.equal(failures.length, 2, 'both refusals are audited')

      const sameKey = await withProof(tvKey, (dpop) => exchange(subject, { dpop }))
      t.equal(sameKey.statusCode, 200)
      t.equal(sameKey.json().token_type, 'DPoP')
      t.same(claimsOf(sameKey.json().access_token).cnf, { jkt: tvKey.jkt }, 'still bound to the same key')
    })

    const codeApp = await registerClient(testApp, {
      name: 'Notes web app',
      type: 'public',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid'],
      audiences: [],
      redirectUris: [REDIRECT],
      firstParty: true,
    })
    /** An authorization request with these extra parameters, signed in; the redirect it ends with. */
    const authorize = async (extra: Record<string, string>, challenge: string) => {
      const jar = new CookieJar()
      const url = authorizeUrl({
        clientId: codeApp.id,
        redirectUri: REDIRECT,
        challenge,
        scope: 'openid',
        state: 'keep',
        extra,
      })
      const page = await browse(testApp, jar, url)
      return page.statusCode === 200 ? signInOnPage(testApp, jar, page.body, 'ada@example.com') : page
    }
    const redeem = async (extra: Record<string, string>) => {
      const pkce = pkcePair()
      const code = redirectParams(await authorize(extra, pkce.challenge)).get('code')!
      const body = {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: pkce.verifier,
        client_id: codeApp.id,
      }
      return (headers: Record<string, string> = {}) => tokenRequest(body, headers)
    }

    t.test('dpop_jkt that is not a SHA-256 thumbprint is refused back to the app', async (t) => {
      const thumbprint = (await proofKey()).jkt
      for (const dpopJkt of ['short', `${thumbprint}A`, `${thumbprint.slice(0, 42)}+`]) {
        const res = await authorize({ dpop_jkt: dpopJkt }, pkcePair().challenge)
        t.equal(res.statusCode, 302, dpopJkt)
        t.same(Object.fromEntries(redirectParams(res)), {
          error: 'invalid_request',
          error_description: 'dpop_jkt must be the 43-character base64url SHA-256 thumbprint of a DPoP key',
          state: 'keep',
          iss: testApp.config.issuer,
        })
      }
    })

    t.test('a code requested with dpop_jkt is exchanged only with a proof of that key', async (t) => {
      const key = await proofKey()
      const send = await redeem({ dpop_jkt: key.jkt })
      const res = await withProof(key, (dpop) => send({ dpop }))
      t.equal(res.statusCode, 200)
      t.equal(res.json().token_type, 'DPoP')
      t.same(claimsOf(res.json().access_token).cnf, { jkt: key.jkt })
      t.same((await refresh(codeApp, res.json().refresh_token)).json(), {
        error: 'invalid_dpop_proof',
        error_description: 'this refresh token is bound to a DPoP key: send a DPoP proof',
      })
    })

    t.test('a code requested with dpop_jkt is refused without a proof, and is then used up', async (t) => {
      const key = await proofKey()
      const send = await redeem({ dpop_jkt: key.jkt })
      const res = await send()
      t.equal(res.statusCode, 400)
      t.match(res.headers, noStore)
      t.same(res.json(), {
        error: 'invalid_dpop_proof',
        error_description: 'this code was requested with dpop_jkt: send a DPoP proof of that key',
      })
      const again = await withProof(key, (dpop) => send({ dpop }))
      t.same(again.json(), {
        error: 'invalid_grant',
        error_description: 'authorization code is invalid, expired or already used',
      })
    })

    t.test('a code requested with dpop_jkt is refused with a proof of another key', async (t) => {
      const key = await proofKey()
      const send = await redeem({ dpop_jkt: key.jkt })
      const res = await withProof(await proofKey(), (dpop) => send({ dpop }))
      t.equal(res.statusCode, 400)
      t.same(res.json(), {
        error: 'invalid_grant',
        error_description: 'the DPoP proof key does not match the dpop_jkt of the authorization request',
      })
    })
  })
}
