import t from 'tap'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import {
  DEVICE_CODE_GRANT,
  answerDeviceInBrowser,
  pollDeviceToken,
  requestDeviceAuthorization,
} from '../helpers/device.js'
import { PASSWORD, claimsOf, registerUser } from '../helpers/users.js'
import { createClient } from '../../server/clients/create-client.js'
import { cliEnv, runLatchkey } from '../helpers/run-cli.js'

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const NOTES = 'https://notes.example'
const CALENDAR = 'https://calendar.example'
const MAIL = 'https://mail.example'

/** A user's access and refresh token for the notes service, through the device flow. */
async function userTokens(
  testApp: TestApp,
  app: TestClient,
  scope: string,
): Promise<{ access_token: string; refresh_token: string }> {
  const started = (await requestDeviceAuthorization(testApp, app, { scope, resource: NOTES })).json<{
    device_code: string
    verification_uri_complete: string
  }>()
  await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'allow')
  const res = await pollDeviceToken(testApp, app, started.device_code)
  if (res.statusCode !== 200) throw new Error(`no user token: ${res.body}`)
  return res.json<{ access_token: string; refresh_token: string }>()
}

async function userToken(testApp: TestApp, app: TestClient, scope: string): Promise<string> {
  return (await userTokens(testApp, app, scope)).access_token
}

for (const dialect of testDialects()) {
  t.test(`token exchange (RFC 8693) on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app } = testApp
    await registerUser(testApp, 'ada@example.com', PASSWORD)
    const tv = await registerClient(testApp, {
      name: 'TV app',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'],
      scopes: ['notes:read', 'notes:write'],
      audiences: [NOTES],
    })
    // The notes service accepts tokens for NOTES and may call the calendar on the user's behalf.
    const notesService = await registerClient(testApp, {
      name: 'Notes service',
      grantTypes: [TOKEN_EXCHANGE],
      scopes: [],
      audiences: [NOTES, CALENDAR],
    })
    const calendarService = await registerClient(testApp, {
      name: 'Calendar service',
      grantTypes: [TOKEN_EXCHANGE],
      scopes: [],
      audiences: [CALENDAR, MAIL],
    })

    const exchange = (client: TestClient, fields: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: client.basic },
        payload: new URLSearchParams({
          grant_type: TOKEN_EXCHANGE,
          subject_token_type: ACCESS_TOKEN_TYPE,
          ...fields,
        }).toString(),
      })

    t.test("a service exchanges a user's token for one to call another service, narrowed, with act", async (t) => {
      const subject = await userToken(testApp, tv, 'notes:read notes:write')
      const res = await exchange(notesService, { subject_token: subject, audience: CALENDAR, scope: 'notes:read' })
      t.equal(res.statusCode, 200)
      t.match(res.headers, { 'cache-control': 'no-store' })
      const body = res.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'])
      t.equal(body.issued_token_type, ACCESS_TOKEN_TYPE)
      t.equal(body.token_type, 'Bearer')
      t.equal(body.scope, 'notes:read')
      const before = claimsOf(subject)
      const after = claimsOf(body.access_token)
      t.equal(after.sub, before.sub, 'still the user')
      t.equal(after.aud, CALENDAR)
      t.equal(after.client_id, notesService.id)
      t.equal(after.sid, before.sid, 'the same session: signing out ends it too')
      t.same(after.act, { sub: notesService.id })
      t.ok(await testApp.deps.verifier.verifyAccessToken(body.access_token), 'a good token of ours')

      const viaResource = await exchange(notesService, { subject_token: subject, resource: CALENDAR })
      t.equal(viaResource.statusCode, 200, 'resource names the target as well as audience')
      t.equal(viaResource.json().scope, 'notes:read notes:write', 'without scope: the subject token’s')

      const events = await testApp.deps.db
        .selectFrom('audit_events')
        .select(['event', 'client_id', 'user_id', 'details'])
        .where('event', '=', 'token.exchanged')
        .execute()
      t.equal(events.length, 2)
      t.equal(events[0]!.client_id, notesService.id)
      t.equal(events[0]!.user_id, before.sub)
      t.match(JSON.parse(events[0]!.details!), { audience: CALENDAR, scope: 'notes:read', subject_client_id: tv.id })
    })

    t.test('an exchanged token exchanged again nests act', async (t) => {
      const subject = await userToken(testApp, tv, 'notes:read')
      const first = (await exchange(notesService, { subject_token: subject, audience: CALENDAR })).json()
      const second = await exchange(calendarService, { subject_token: first.access_token, audience: MAIL })
      t.equal(second.statusCode, 200)
      t.same(claimsOf(second.json().access_token).act, { sub: calendarService.id, act: { sub: notesService.id } })
    })

    t.test('refusals', async (t) => {
      const subject = await userToken(testApp, tv, 'notes:read')
      const cases: [string, TestClient, Record<string, string>, number, object][] = [
        [
          'a wider scope',
          notesService,
          { subject_token: subject, audience: CALENDAR, scope: 'notes:read notes:write' },
          400,
          { error: 'invalid_scope', error_description: "scope exceeds the subject token's: notes:write" },
        ],
        [
          'an audience the client may not target',
          notesService,
          { subject_token: subject, audience: MAIL },
          400,
          { error: 'invalid_target', error_description: 'this client may not obtain tokens for that audience' },
        ],
        [
          'a subject token issued for another service',
          calendarService,
          { subject_token: subject, audience: MAIL },
          400,
          {
            error: 'invalid_request',
            error_description: 'subject_token was not issued for a service this client is registered as',
          },
        ],
        [
          'no target',
          notesService,
          { subject_token: subject },
          400,
          { error: 'invalid_request', error_description: 'resource or audience is required: name the service to call' },
        ],
        [
          'two different targets',
          notesService,
          { subject_token: subject, audience: CALENDAR, resource: NOTES },
          400,
          { error: 'invalid_target', error_description: 'resource and audience name different services: give one' },
        ],
        [
          'a forged subject token',
          notesService,
          { subject_token: `${subject.slice(0, -4)}AAAA`, audience: CALENDAR },
          400,
          { error: 'invalid_request', error_description: 'subject_token is invalid, expired or revoked' },
        ],
        [
          'another subject token type',
          notesService,
          {
            subject_token: subject,
            audience: CALENDAR,
            subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
          },
          400,
          { error: 'invalid_request', error_description: `subject_token_type must be ${ACCESS_TOKEN_TYPE}` },
        ],
        [
          'an actor token',
          notesService,
          { subject_token: subject, audience: CALENDAR, actor_token: subject, actor_token_type: ACCESS_TOKEN_TYPE },
          400,
          {
            error: 'invalid_request',
            error_description: 'actor_token is not supported: the authenticated client is the actor',
          },
        ],
      ]
      for (const [name, client, fields, status, body] of cases) {
        const res = await exchange(client, fields)
        t.equal(res.statusCode, status, name)
        t.same(res.json(), body, name)
        t.match(res.headers, { 'cache-control': 'no-store' }, name)
      }
      const failures = await testApp.deps.db
        .selectFrom('audit_events')
        .select('event')
        .where('event', '=', 'token_exchange.failed')
        .execute()
      t.equal(failures.length, cases.length, 'every refusal is audited')
    })

    t.test('a client without the grant is refused, and a public client cannot be given it', async (t) => {
      const plain = await registerClient(testApp, { grantTypes: ['client_credentials'], audiences: [NOTES, CALENDAR] })
      const subject = await userToken(testApp, tv, 'notes:read')
      const res = await exchange(plain, { subject_token: subject, audience: CALENDAR })
      t.equal(res.statusCode, 400)
      t.same(res.json(), {
        error: 'unauthorized_client',
        error_description: 'this client may not use the token-exchange grant',
      })
      await t.rejects(
        createClient(testApp.deps, {
          name: 'public exchanger',
          type: 'public',
          grantTypes: [TOKEN_EXCHANGE],
          scopes: [],
          audiences: [CALENDAR],
          redirectUris: [],
        }),
        /a public client cannot use token exchange/,
      )
    })

    t.test('a revoked subject token, or one whose session ended, cannot be exchanged', async (t) => {
      const subject = await userToken(testApp, tv, 'notes:read')
      const exchanged = (await exchange(notesService, { subject_token: subject, audience: CALENDAR })).json()
      const revoked = await app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token: subject, client_id: tv.id }).toString(),
      })
      t.equal(revoked.statusCode, 200)
      const res = await exchange(notesService, { subject_token: subject, audience: CALENDAR })
      t.same(res.json(), {
        error: 'invalid_request',
        error_description: 'subject_token is invalid, expired or revoked',
      })
      t.ok(await testApp.deps.verifier.verifyAccessToken(exchanged.access_token), 'revoking one token leaves others')

      const other = await userTokens(testApp, tv, 'notes:read')
      // Revoking the refresh token ends the session (RFC 7009 §2.1), and with it its access tokens.
      const ended = await app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token: other.refresh_token, client_id: tv.id }).toString(),
      })
      t.equal(ended.statusCode, 200)
      const afterLogout = await exchange(notesService, { subject_token: other.access_token, audience: CALENDAR })
      t.equal(afterLogout.json().error, 'invalid_request')
    })

    // Regression: each exchange got a full lifetime from now, so a service renewed a user's token
    // forever by exchanging its own output.
    t.test('a chain of exchanges never outlives the first subject token', async (t) => {
      const subject = await userToken(testApp, tv, 'notes:read')
      const end = claimsOf(subject).exp as number
      testApp.clock.advance(4 * 60_000)
      const first = await exchange(notesService, { subject_token: subject, audience: NOTES })
      t.equal(first.statusCode, 200)
      t.equal(claimsOf(first.json().access_token).exp, end, "capped at the subject token's exp")
      t.equal(first.json().expires_in, end - Math.floor(testApp.clock.now() / 1000), 'expires_in says so')
      testApp.clock.advance(4 * 60_000)
      const second = await exchange(notesService, { subject_token: first.json().access_token, audience: NOTES })
      t.equal(second.statusCode, 200)
      t.equal(claimsOf(second.json().access_token).exp, end, 'its own output gains nothing')
      testApp.clock.advance(3 * 60_000)
      const third = await exchange(notesService, { subject_token: second.json().access_token, audience: NOTES })
      t.same(
        third.json(),
        { error: 'invalid_request', error_description: 'subject_token is invalid, expired or revoked' },
        'past the first token, the chain ends',
      )
    })

    // Regression: the verifier checked the client cut-off only for tokens without sid, so the tokens
    // a deleted service had exchanged (carrying the user's sid) stayed active.
    t.test('deleting the exchanging service ends the tokens it exchanged', async (t) => {
      const resource = await createClient(testApp.deps, {
        name: 'Calendar API',
        type: 'confidential',
        grantTypes: ['client_credentials'],
        scopes: [],
        audiences: [CALENDAR],
        redirectUris: [],
        introspection: true,
      })
      const introspect = async (token: string) =>
        (
          await app.inject({
            method: 'POST',
            url: '/oauth/introspect',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              authorization: `Basic ${Buffer.from(`${resource.client.id}:${resource.secret ?? ''}`).toString('base64')}`,
            },
            payload: new URLSearchParams({ token }).toString(),
          })
        ).json<{ active: boolean }>().active
      const service = await registerClient(testApp, {
        name: 'Short-lived service',
        grantTypes: [TOKEN_EXCHANGE],
        scopes: [],
        audiences: [NOTES, CALENDAR],
      })
      const subject = await userToken(testApp, tv, 'notes:read')
      const exchanged = (await exchange(service, { subject_token: subject, audience: CALENDAR })).json().access_token
      t.equal(await introspect(exchanged), true)
      const deleted = await runLatchkey(
        ['clients', 'delete', service.id, '--json'],
        cliEnv(testApp.dataDir, testApp.database),
      )
      t.equal(deleted.code, 0, deleted.stderr)
      t.equal(await introspect(exchanged), false, 'inactive once the service is deleted')
      t.equal(await testApp.deps.verifier.verifyAccessToken(subject).then(Boolean), true, "the user's own token stays")
    })

    t.test("a client's own token (no user) is not a subject", async (t) => {
      const machine = await registerClient(testApp, { grantTypes: ['client_credentials'], audiences: [NOTES] })
      const own = await app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: machine.basic },
        payload: 'grant_type=client_credentials',
      })
      const res = await exchange(notesService, { subject_token: own.json().access_token, audience: CALENDAR })
      t.same(res.json(), { error: 'invalid_request', error_description: 'subject_token must be a user access token' })
    })
  })

  // Regression: the verifier never looked at the session's expiry, so a token minted just before
  // its session's end could still be exchanged (and the result renewed) after the session ended.
  t.test(`a subject whose session has expired cannot be exchanged on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, {
      dialect,
      env: { LATCHKEY_REFRESH_TOKEN_TTL: '2m', LATCHKEY_REFRESH_TOKEN_IDLE_TTL: '1m' },
    })
    await registerUser(testApp, 'ada@example.com', PASSWORD)
    const tv = await registerClient(testApp, {
      name: 'TV app',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'],
      scopes: ['notes:read'],
      audiences: [NOTES],
    })
    const service = await registerClient(testApp, {
      name: 'Notes service',
      grantTypes: [TOKEN_EXCHANGE],
      scopes: [],
      audiences: [NOTES],
    })
    const exchange = (subject: string) =>
      testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: service.basic },
        payload: new URLSearchParams({
          grant_type: TOKEN_EXCHANGE,
          subject_token_type: ACCESS_TOKEN_TYPE,
          subject_token: subject,
          audience: NOTES,
        }).toString(),
      })
    const subject = await userToken(testApp, tv, 'notes:read')
    const idleEnd = Math.floor(testApp.clock.now() / 1000) + 60
    testApp.clock.advance(30_000)
    const early = await exchange(subject)
    t.equal(early.statusCode, 200)
    t.ok((claimsOf(early.json().access_token).exp as number) <= idleEnd, 'ends no later than the session')
    testApp.clock.advance(40_000)
    t.ok(await testApp.deps.verifier.verifySignedAccessToken(subject), 'the subject token itself has not expired')
    t.same((await exchange(subject)).json(), {
      error: 'invalid_request',
      error_description: 'subject_token is invalid, expired or revoked',
    })
  })
}
