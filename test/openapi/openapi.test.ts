import t from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import { buildTestApp } from '../helpers/build-test-app.js'
import { launchChromium } from '../helpers/browser.js'
import { freePort } from '../helpers/free-port.js'

interface Operation {
  requestBody?: { content: Record<string, { schema: unknown }> }
  parameters?: unknown[]
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>
  security?: Array<Record<string, string[]>>
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, unknown> }
}

t.test('GET /openapi.json is a valid OpenAPI 3.1 document of every route', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject('/openapi.json')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const document = res.json<Document>()
  t.equal(document.openapi, '3.1.0')
  const result = await new Validator().validate(document as unknown as Parameters<Validator['validate']>[0])
  t.same(result, { valid: true }, 'valid against the OpenAPI 3.1 schema')

  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
  )
  const names = operations.map((o) => o.name)
  for (const expected of [
    'POST /oauth/token',
    'POST /oauth/revoke',
    'POST /oauth/introspect',
    'GET /oauth/userinfo',
    'GET /oauth/revocations',
    'GET /oauth/authorize',
    'GET /.well-known/jwks.json',
    'GET /.well-known/openid-configuration',
    'POST /auth/login',
    'POST /auth/refresh',
    'DELETE /auth/sessions/{id}',
    'GET /healthz',
    'GET /readyz',
    'GET /metrics',
    'GET /openapi.json',
  ])
    t.ok(names.includes(expected), `${expected} is documented`)
  t.notOk(names.includes('GET /oauth/token'), 'the 405 answerers are not operations')
  t.notOk(
    names.some((n) => n.includes('/docs')),
    'the docs page itself is not an operation',
  )

  // Every operation declares what it answers, each answer with its schema unless it has no body.
  const bodiless = new Set(['204', '302', '303', '304'])
  const missing = operations.flatMap(({ name, op }) =>
    Object.entries(op.responses)
      .filter(([status, response]) => !bodiless.has(status) && response.content === undefined)
      .map(([status]) => `${name} ${status}`),
  )
  t.same(missing, [], 'every response with a body has a schema')
  t.ok(
    operations.every(({ op }) => Object.keys(op.responses).some((status) => status !== 'default')),
    'every operation lists its statuses',
  )

  const token = document.paths['/oauth/token']!.post!
  t.same(Object.keys(token.requestBody!.content), ['application/x-www-form-urlencoded'], 'RFC 6749 §3.2: a form')
  t.same(token.security, [{ clientSecretBasic: [] }, { clientSecretPost: [] }])
  t.same(document.paths['/auth/me']!.get!.security, [{ bearerToken: [] }])
  t.same(document.paths['/auth/refresh']!.post!.security, [{ sessionCookie: [] }])
  t.same(document.paths['/metrics']!.get!.security, [{ metricsToken: [] }, {}])
  t.same(Object.keys(document.components.securitySchemes).sort(), [
    'bearerToken',
    'clientSecretBasic',
    'clientSecretPost',
    'metricsToken',
    'sessionCookie',
  ])
})

t.test('GET /docs renders the document in Chromium from Latchkey alone, under a strict CSP', async (t) => {
  const port = await freePort()
  const testApp = await buildTestApp(t, { env: { PORT: String(port), LATCHKEY_ISSUER: `http://127.0.0.1:${port}` } })
  await testApp.app.listen({ port, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${port}`

  const browser = await launchChromium(t)
  const page = await browser.newPage()
  const foreign: string[] = []
  const violations: string[] = []
  page.on('request', (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) foreign.push(request.url())
  })
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text())
  })
  const response = await page.goto(`${origin}/docs`)
  t.equal(response?.status(), 200)
  const csp = response?.headers()['content-security-policy'] ?? ''
  t.match(csp, /default-src 'none'/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval|https:|\*/, 'no inline code, no eval, no other origin')

  // Swagger UI lists each operation as a block with its method and path.
  const tokenOperation = page.locator('.opblock-post', { hasText: '/oauth/token' }).first()
  await tokenOperation.waitFor({ state: 'visible', timeout: 30_000 })
  t.match(await tokenOperation.innerText(), /POST\s*\/oauth\/token/)
  await tokenOperation.locator('.opblock-summary').first().click()
  // Opened, it shows the form body's fields and its content type.
  await tokenOperation.locator('text=grant_type').first().waitFor({ timeout: 10_000 })
  t.equal(
    await tokenOperation.locator('select.content-type, .body-param-content-type select').first().inputValue(),
    'application/x-www-form-urlencoded',
  )
  t.same(foreign, [], 'every request went to Latchkey')
  t.same(violations, [], 'nothing the CSP had to block')
})
