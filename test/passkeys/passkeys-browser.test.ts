import { createHash, createPrivateKey, sign } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import t from 'tap'
import type { CDPSession, Page } from 'playwright-core'
import { launchChromium } from '../helpers/browser.js'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { exchangeCode, pkcePair } from '../helpers/authorize.js'
import { freePort } from '../helpers/free-port.js'
import { createSmtpServer } from '../helpers/smtp-server.js'
import { testDialects } from '../helpers/test-database.js'
import { claimsOf, nextClientIp, registerUser, sessionCookieOf } from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'

// Passkeys end to end: real headless Chromium with a CDP virtual authenticator (CTAP2, internal,
// resident keys, user verification) against the real app on a listening port. The server-level
// refusals use assertions that the same authenticator made.

const EMAIL = 'passkey@example.com'
const bundlePath = join(
  dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')),
  '..',
  'dist',
  'bundle',
  'index.umd.min.js',
)

type Json = Record<string, unknown>

/** A WebAuthn assertion from the page's authenticator for request options the server issued. */
async function assertionFor(page: Page, optionsJSON: Json): Promise<Json> {
  // No answer within 20 s fails the step instead of hanging the file.
  return page.evaluate(async (optionsJSON) => {
    const webauthn = (
      window as unknown as { SimpleWebAuthnBrowser: { startAuthentication(o: object): Promise<object> } }
    ).SimpleWebAuthnBrowser
    const timeout = new Promise<never>((_resolve, reject) =>
      setTimeout(() => reject(new Error('no assertion')), 20_000),
    )
    return (await Promise.race([webauthn.startAuthentication({ optionsJSON }), timeout])) as Record<string, unknown>
  }, optionsJSON)
}

async function loginOptions(testApp: TestApp): Promise<Json> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/auth/passkeys/login/options',
    remoteAddress: nextClientIp(),
  })
  if (res.statusCode !== 200) throw new Error(`options: ${res.statusCode} ${res.body}`)
  return res.json<Json>()
}

async function postLogin(testApp: TestApp, response: Json) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/passkeys/login',
    payload: { response },
    remoteAddress: nextClientIp(),
  })
}

async function addAuthenticator(cdp: CDPSession): Promise<string> {
  await cdp.send('WebAuthn.enable', { enableUI: false })
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  })
  return authenticatorId
}

/** The same assertion with another RP id hash in its authenticator data, signed again with the credential's key. */
function withRpIdHash(assertion: Json, rpId: string, privateKeyPkcs8: string): Json {
  const response = assertion.response as Record<string, string>
  const authData = Buffer.from(response.authenticatorData!, 'base64url')
  createHash('sha256').update(rpId).digest().copy(authData, 0)
  const clientDataHash = createHash('sha256').update(Buffer.from(response.clientDataJSON!, 'base64url')).digest()
  const key = createPrivateKey({ key: Buffer.from(privateKeyPkcs8, 'base64'), format: 'der', type: 'pkcs8' })
  // ES256 signs a SHA-256 digest; Ed25519 (which Chromium picks first from our algorithm list) the data itself.
  const signature = sign(
    key.asymmetricKeyType === 'ed25519' ? null : 'sha256',
    Buffer.concat([authData, clientDataHash]),
    key,
  )
  return {
    ...assertion,
    response: {
      ...response,
      authenticatorData: authData.toString('base64url'),
      signature: signature.toString('base64url'),
    },
  }
}

for (const dialect of testDialects()) {
  t.test(`a passkey registered on the account page signs in alone and through an app, on ${dialect}`, async (t) => {
    const smtp = await createSmtpServer(t)
    const port = await freePort()
    // WebAuthn refuses IP addresses as RP ids: the public URL names localhost.
    const origin = `http://localhost:${port}`
    const testApp = await buildTestApp(t, {
      dialect,
      env: { SMTP_URL: smtp.url, PORT: String(port), LATCHKEY_ISSUER: origin },
    })
    await testApp.app.listen({ port, host: '127.0.0.1' })
    await registerUser(testApp, EMAIL)

    const browser = await launchChromium(t)
    const context = await browser.newContext()
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    const authenticatorId = await addAuthenticator(cdp)

    await t.test('registering on the account page', async (t) => {
      await page.goto(`${origin}/account/security`)
      t.equal(new URL(page.url()).pathname, '/signin', 'the account page asks for a sign-in first')
      await page.getByLabel('Email').fill(EMAIL)
      await page.getByLabel('Password').fill('correct horse battery staple 42')
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await page.getByText('You are signed in as').waitFor()
      await page.goto(`${origin}/account/security`)
      await page.getByText('You have no passkeys yet.').waitFor()
      await page.getByLabel('Name for a new passkey').fill('test laptop')
      await page.getByRole('button', { name: 'Add a passkey' }).click()
      await page.getByText('Passkey "test laptop" added.').waitFor()
      t.ok(await page.getByRole('button', { name: 'Remove passkey test laptop' }).isVisible())
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
      t.equal(credentials.length, 1, 'the authenticator holds one credential')
      t.equal(credentials[0]!.rpId, 'localhost')
      t.ok(credentials[0]!.isResidentCredential, 'a discoverable credential')
      await deliverDueMessages(testApp.deps)
      t.same(smtp.messages.map((m) => m.subject).sort(), [
        'A passkey was added to your Latchkey account',
        'Verify your email address for Latchkey',
      ])
    })

    await t.test('signing out, then in with the passkey alone', async (t) => {
      await page.goto(`${origin}/signout`)
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.getByText('You are signed out').waitFor()
      await page.goto(`${origin}/signin`)
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
      await page.getByText(`You are signed in as ${EMAIL}.`).waitFor()
      t.pass('signed in without typing an email or password')
    })

    await t.test("an app's authorization-code flow completed with the passkey", async (t) => {
      await page.goto(`${origin}/signout`)
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.getByText('You are signed out').waitFor()
      // The app's callback is a page of the listening server that does not exist: only its address matters.
      const redirectUri = `${origin}/app-callback`
      const client = await registerClient(testApp, {
        grantTypes: ['authorization_code'],
        redirectUris: [redirectUri],
        scopes: ['openid', 'notes:read'],
        firstParty: true,
      })
      const { verifier, challenge } = pkcePair()
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: client.id,
        redirect_uri: redirectUri,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        scope: 'openid notes:read',
        state: 'st-1',
      })
      await page.goto(`${origin}/oauth/authorize?${query}`)
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
      await page.waitForURL((url) => url.href.startsWith(redirectUri))
      const callback = new URL(page.url())
      t.equal(callback.searchParams.get('state'), 'st-1')
      const res = await exchangeCode(
        testApp,
        { code: callback.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: verifier },
        client.basic,
      )
      t.equal(res.statusCode, 200, res.body)
      const claims = claimsOf(res.json().access_token)
      t.same(claims.amr, ['hwk', 'user', 'mfa'], 'a hardware-bound key with user verification: multi-factor')
    })

    await t.test('the first-party API: sign-in like /auth/login, list', async (t) => {
      await page.goto(`${origin}/signin`)
      const res = await postLogin(testApp, await assertionFor(page, await loginOptions(testApp)))
      t.equal(res.statusCode, 200, res.body)
      t.equal(res.headers['cache-control'], 'no-store')
      const cookie = sessionCookieOf(res.headers['set-cookie'])
      t.match(cookie, /^__Host-latchkey_session=/)
      const token = res.json().access_token as string
      t.same(claimsOf(token).amr, ['hwk', 'user', 'mfa'])
      const list = await testApp.app.inject({
        method: 'GET',
        url: '/auth/passkeys',
        headers: { authorization: `Bearer ${token}` },
      })
      t.equal(list.statusCode, 200)
      const passkeys = list.json().passkeys as Json[]
      t.equal(passkeys.length, 1)
      t.same(Object.keys(passkeys[0]!).sort(), [
        'backed_up',
        'backup_eligible',
        'created_at',
        'id',
        'last_used_at',
        'name',
        'transports',
      ])
      t.equal(passkeys[0]!.name, 'test laptop')
    })

    await t.test('a challenge is good once', async (t) => {
      const assertion = await assertionFor(page, await loginOptions(testApp))
      t.equal((await postLogin(testApp, assertion)).statusCode, 200)
      const replay = await postLogin(testApp, assertion)
      t.equal(replay.statusCode, 400)
      t.same(replay.json(), {
        error: 'passkey_challenge_invalid',
        error_description: 'the passkey request expired or was already used; start again',
      })
    })

    await t.test('a challenge older than five minutes is refused', async (t) => {
      const options = await loginOptions(testApp)
      const assertion = await assertionFor(page, options)
      testApp.clock.advance(5 * 60_000 + 1)
      const res = await postLogin(testApp, assertion)
      t.equal(res.statusCode, 400)
      t.equal(res.json().error, 'passkey_challenge_invalid')
    })

    await t.test('an assertion made on another origin is refused', async (t) => {
      const other = await context.newPage()
      // The same RP id (localhost) is valid on another port, so the authenticator signs: only the
      // origin in the client data differs.
      await other.route('http://localhost:4998/**', (route) =>
        route.fulfill({ body: '<!doctype html><title>other</title>', contentType: 'text/html' }),
      )
      await other.goto('http://localhost:4998/')
      // Virtual authenticators belong to one page: this one gets a copy of the registered key.
      const otherCdp = await context.newCDPSession(other)
      const otherAuthenticator = await addAuthenticator(otherCdp)
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
      await otherCdp.send('WebAuthn.addCredential', {
        authenticatorId: otherAuthenticator,
        credential: credentials[0]!,
      })
      await other.addScriptTag({ path: bundlePath })
      const assertion = await assertionFor(other, await loginOptions(testApp))
      const clientData = JSON.parse(
        Buffer.from((assertion.response as Record<string, string>).clientDataJSON!, 'base64url').toString(),
      ) as { origin: string }
      t.equal(clientData.origin, 'http://localhost:4998')
      const res = await postLogin(testApp, assertion)
      t.equal(res.statusCode, 401)
      t.same(res.json(), { error: 'passkey_rejected', error_description: 'the passkey could not be verified' })
      t.ok(await hasFailure(testApp, 'origin'), 'recorded as an origin mismatch')
      await other.close()
    })

    await t.test('an assertion for another RP id is refused', async (t) => {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
      const assertion = await assertionFor(page, await loginOptions(testApp))
      const res = await postLogin(testApp, withRpIdHash(assertion, 'evil.example', credentials[0]!.privateKey))
      t.equal(res.statusCode, 401)
      t.equal(res.json().error, 'passkey_rejected')
      t.ok(await hasFailure(testApp, 'rp_id'), 'recorded as an RP id mismatch, not a bad signature')
    })

    // A user with a passkey gets mfa_required from a password alone: the later steps use a token
    // from a passkey sign-in made before the key is cloned.
    let accessToken = ''
    await t.test('a signature counter that went back is refused', async (t) => {
      const signedIn = await postLogin(testApp, await assertionFor(page, await loginOptions(testApp)))
      t.equal(signedIn.statusCode, 200)
      accessToken = signedIn.json().access_token as string
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
      const credential = credentials[0]!
      t.ok(credential.signCount > 2, `the counter moved with each sign-in (${credential.signCount})`)
      // A clone of the key made earlier: same credential, an older counter.
      await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId })
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...credential, signCount: 0 } })
      const res = await postLogin(testApp, await assertionFor(page, await loginOptions(testApp)))
      t.equal(res.statusCode, 401)
      t.equal(res.json().error, 'passkey_rejected')
      t.ok(await hasFailure(testApp, 'counter'))
    })

    await t.test('a removed passkey is an unknown credential', async (t) => {
      const password = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: EMAIL, password: 'correct horse battery staple 42' },
        remoteAddress: nextClientIp(),
      })
      t.equal(password.json().error, 'mfa_required', 'the passkey is a second factor after the password')
      const auth = { authorization: `Bearer ${accessToken}` }
      const list = await testApp.app.inject({ method: 'GET', url: '/auth/passkeys', headers: auth })
      const id = (list.json().passkeys as Json[])[0]!.id as string
      const removed = await testApp.app.inject({ method: 'DELETE', url: `/auth/passkeys/${id}`, headers: auth })
      t.equal(removed.statusCode, 204)
      const again = await testApp.app.inject({ method: 'DELETE', url: `/auth/passkeys/${id}`, headers: auth })
      t.equal(again.statusCode, 404)
      const res = await postLogin(testApp, await assertionFor(page, await loginOptions(testApp)))
      t.equal(res.statusCode, 401)
      t.same(res.json(), { error: 'passkey_rejected', error_description: 'the passkey could not be verified' })
      t.ok(await hasFailure(testApp, 'unknown_credential'))
      await deliverDueMessages(testApp.deps)
      t.equal(smtp.messages.at(-1)!.subject, 'A passkey was removed from your Latchkey account')
    })
  })
}

/** Whether a failed passkey sign-in was audited with this reason. */
async function hasFailure(testApp: TestApp, reason: string): Promise<boolean> {
  const rows = await testApp.deps.db
    .selectFrom('audit_events')
    .select('details')
    .where('event', '=', 'passkey_login.failed')
    .execute()
  return rows.some((r) => r.details !== null && (JSON.parse(r.details) as { reason: string }).reason === reason)
}
