import fc from 'fast-check'

/** One operation of the live /openapi.json: what the fuzzer knows about a route. */
export interface Route {
  method: string
  /** OpenAPI template, `/admin/clients/{id}`. */
  path: string
  pathParams: string[]
  query: Array<{ name: string; schema: JsonSchema }>
  /** Media type of the documented body, if any. */
  bodyType: string | null
  bodyFields: Array<{ name: string; schema: JsonSchema }>
  security: string[]
}

interface JsonSchema {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  maxLength?: number
  minLength?: number
  items?: JsonSchema
  maxItems?: number
  properties?: Record<string, JsonSchema>
  anyOf?: JsonSchema[]
}

interface OpenApiOperation {
  parameters?: Array<{ in: string; name: string; schema?: JsonSchema }>
  requestBody?: { content: Record<string, { schema: JsonSchema }> }
  security?: Array<Record<string, string[]>>
}

/** Every operation of the document, so a route added tomorrow is fuzzed without touching this suite. */
export function routesOf(document: { paths: Record<string, Record<string, OpenApiOperation>> }): Route[] {
  const routes: Route[] = []
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const params = op.parameters ?? []
      const [bodyType, media] = Object.entries(op.requestBody?.content ?? {})[0] ?? [null, undefined]
      routes.push({
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        bodyType,
        bodyFields: Object.entries(media?.schema.properties ?? {}).map(([name, schema]) => ({ name, schema })),
        security: (op.security ?? []).flatMap((alternative) => Object.keys(alternative)),
      })
    }
  }
  return routes
}

/** Fixture values, resolved when the request is sent (they change when the fuzzer rebuilds them). */
export type Ref =
  | 'userAccess'
  | 'adminAccess'
  | 'clientAccess'
  | 'refresh'
  | 'sessionId'
  | 'userId'
  | 'email'
  | 'password'
  | 'clientId'
  | 'clientSecret'
  | 'victimUserId'
  | 'victimClientId'
  | 'codeClientId'
  | 'redirectUri'
const refs: Ref[] = [
  'userAccess',
  'adminAccess',
  'clientAccess',
  'refresh',
  'sessionId',
  'userId',
  'email',
  'password',
  'clientId',
  'clientSecret',
  'victimUserId',
  'victimClientId',
  'codeClientId',
  'redirectUri',
]

/** How a valid fixture value is spoiled before it is sent. */
export type Spoil =
  'none' | 'truncate' | 'flip-last' | 'append' | 'alg-none' | 'nul' | 'doubled' | 'upper' | 'nfd' | 'padded'
const spoils: Spoil[] = ['truncate', 'flip-last', 'append', 'alg-none', 'nul', 'doubled', 'upper', 'nfd', 'padded']

/** A value before resolution: literal text, a fixture (maybe spoiled), or a JSON value of any type. */
export type Value = { text: string } | { ref: Ref; spoil: Spoil } | { json: unknown }

/** Strings that have broken parsers, databases and comparisons before. */
const nasty = [
  '',
  ' ',
  '\u0000',
  'a@b.c\u0000admin',
  'nul\u0000@example.com',
  '\u0001\u0007\u001b[31m\u007f',
  'line\r\nInjected: yes',
  'tab\there',
  '\u00e9',
  'e\u0301',
  '\u212b',
  'A\u030a',
  '\u202eevil\u202c',
  '\u05e9\u05dc\u05d5\u05dd',
  '\u200b',
  'zero\u200dwidth\u200c',
  '\ufeffbom',
  '\ud800',
  '\udfff',
  'x\ud83dy',
  '\ud83d\ude00',
  '\uffff\ufffe',
  '%00',
  '%',
  '%zz',
  '%E0%A4%A',
  '../../etc/passwd',
  "' OR '1'='1' --",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '{{7*7}}${7*7}',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-1',
  '0',
  '1e309',
  '99999999999999999999999999',
  'true',
  '[]',
  '{}',
  'Bearer',
  'Basic',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.',
  'eyJhbGciOiJIUzI1NiJ9.e30.ZmFrZQ',
  'a.b.c',
  '....',
  '*',
  'https://evil.example/cb',
  'javascript:alert(1)',
  'admin@example.com',
  'latchkey:admin',
  'openid profile email latchkey:admin',
  'client_credentials',
  'refresh_token',
  'authorization_code',
  'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  '1970-01-01T00:00:00Z',
  '00000000-0000-0000-0000-000000000000',
]

/** UTF-16 code units one by one: lone surrogates and every control character included. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit))

const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...nasty) },
  { weight: 2, arbitrary: fc.string({ unit: anyCodeUnit, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  // Huge values: past every documented maxLength, up to about the body limit.
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('a', '\u00e9', '\u0000', '=', '%', 'x&y=', '\ud800', '\u200b'),
        fc.integer({ min: 257, max: 70_000 }),
      )
      .map(([unit, count]) => unit.repeat(count)),
  },
)

const leafJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2, '', [], {}),
  fc.integer(),
  hostileText,
)

/** Any JSON value, nested up to a few levels; wrong types for every field. */
const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafJson,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(hostileText, fc.constantFrom('__proto__', 'constructor')), tie('value'), { maxKeys: 4 }),
  ),
})).value

const deepJson = fc.integer({ min: 50, max: 5000 }).map((depth) => ({ json: '['.repeat(depth) + ']'.repeat(depth) }))

/** A value for a field the schema documents: a plausible one, a fixture, a wrong type or hostile text. */
function valueFor(name: string, schema: JsonSchema): fc.Arbitrary<Value> {
  const plausible: Array<fc.Arbitrary<Value>> = []
  if (schema.enum) plausible.push(fc.constantFrom(...schema.enum.map((v) => ({ json: v }))))
  if (schema.const !== undefined) plausible.push(fc.constant({ json: schema.const }))
  for (const alternative of schema.anyOf ?? [])
    if (alternative.const !== undefined) plausible.push(fc.constant({ json: alternative.const }))
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : []
  if (types.includes('string'))
    plausible.push(
      fc
        .string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 80) })
        .map((text) => ({ text })),
    )
  if (types.includes('boolean')) plausible.push(fc.boolean().map((json) => ({ json })))
  if (types.includes('integer') || types.includes('number')) plausible.push(fc.integer().map((json) => ({ json })))
  if (types.includes('array') && schema.items)
    plausible.push(
      fc.array(valueFor(name, schema.items), { maxLength: (schema.maxItems ?? 3) + 2 }).map((values) => ({
        json: values.map((v) => ('json' in v ? v.json : 'text' in v ? v.text : v)),
      })),
    )
  const likely = likelyRefs(name)
  return fc.oneof(
    ...(plausible.length > 0 ? [{ weight: 6, arbitrary: fc.oneof(...plausible) }] : []),
    ...(likely.length > 0 ? [{ weight: 8, arbitrary: refValue(likely) }] : []),
    { weight: 2, arbitrary: hostileText.map((text) => ({ text })) },
    { weight: 1, arbitrary: anyJson.map((json) => ({ json })) },
    { weight: 1, arbitrary: refValue(refs) },
  )
}

function refValue(names: Ref[]): fc.Arbitrary<Value> {
  return fc.record({
    ref: fc.constantFrom(...names),
    spoil: fc.oneof({ weight: 2, arbitrary: fc.constant<Spoil>('none') }, fc.constantFrom(...spoils)),
  })
}

/** Which fixtures a field of this name would take: the fuzzer reaches past the checks with real ones. */
function likelyRefs(name: string): Ref[] {
  if (/^(refresh_)?token$|_token$|^code$/.test(name)) return ['refresh', 'userAccess', 'adminAccess', 'clientAccess']
  if (name === 'email') return ['email']
  if (/password/.test(name)) return ['password']
  if (name === 'client_id') return ['clientId', 'codeClientId', 'victimClientId']
  if (name === 'client_secret') return ['clientSecret']
  if (name === 'user_id') return ['userId', 'victimUserId']
  if (name === 'id') return ['sessionId', 'victimUserId', 'victimClientId', 'userId', 'clientId']
  if (/redirect_uri/.test(name)) return ['redirectUri']
  return []
}

/** Parameters no schema lists, but OAuth clients and attackers send. */
const strayNames = [
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'mfa_token',
  'token',
  'refresh_token',
  'code',
  '__proto__',
  'constructor',
  '',
]

/** Where a token or credential can be put: every slot the API reads one from. */
export type Credential =
  | { kind: 'none' }
  | { kind: 'bearer'; value: Value; scheme: string }
  | { kind: 'basic'; id: Value; secret: Value; raw?: string }
  | { kind: 'raw-authorization'; value: string }

export interface HostileRequest {
  /** Index into the route list; the harness picks it round-robin, so every route gets its share. */
  method: string
  pathParams: Value[]
  /** Appended to the path: `/x/` where `/x` is routed, an encoded slash, nothing. */
  pathSuffix: string
  query: Array<[string, Value]>
  body:
    | { kind: 'none' }
    | { kind: 'fields'; fields: Array<[string, Value]>; encoding: 'json' | 'form' }
    | { kind: 'raw'; text: string }
  contentType: string | null
  credential: Credential
  dpop: Value | null
  cookie: { name: string; value: Value } | null
  /** Extra headers: oversized, repeated, odd. */
  extraHeaders: Array<[string, string]>
}

const contentTypes = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16le',
  'application/json; charset=iso-8859-1',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-16',
  'application/x-www-form-urlencoded; charset="',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'text/plain',
  'text/html',
  'multipart/form-data; boundary=x',
  'multipart/form-data',
  'application/xml',
  'application/octet-stream',
  'application/jwt',
  'application/json, application/x-www-form-urlencoded',
  'application/merge-patch+json',
  '*/*',
  '',
  ';;;',
  'application/json; charset',
  'application/json\u0000',
]

const brokenBodies = [
  '{',
  '{"a":',
  '{"email":"a@b.c",}',
  "{'a':1}",
  '[1,2',
  'null',
  '"just a string"',
  '123',
  '\u0000{}',
  '\ufeff{}',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"admin":true}}}',
  '{"email":"a@b.c","email":"b@c.d"}',
  'a=1&a=2&a=3',
  'grant_type=client_credentials&grant_type=refresh_token',
  '=&=&&==',
  '%%%%',
  'a=%zz',
  'a=%E0%A4%A',
  'token=' + 'a'.repeat(10_000),
  'resource=a&'.repeat(5000),
  '&'.repeat(60_000),
]

const oversizedHeaders: fc.Arbitrary<Array<[string, string]>> = fc.oneof(
  fc.constant<Array<[string, string]>>([]),
  fc.integer({ min: 1, max: 40_000 }).map((n): Array<[string, string]> => [['x-padding', 'p'.repeat(n)]]),
  fc
    .integer({ min: 1, max: 300 })
    .map((n): Array<[string, string]> => Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v'])),
  fc.constant<Array<[string, string]>>([
    ['content-length', '5'],
    ['content-length', '6'],
  ]),
  fc.constant<Array<[string, string]>>([['transfer-encoding', 'chunked, identity']]),
  fc.constant<Array<[string, string]>>([['origin', 'null']]),
  fc.constant<Array<[string, string]>>([
    ['origin', 'http://localhost:3000'],
    ['x-requested-with', 'latchkey'],
  ]),
  fc.constant<Array<[string, string]>>([['x-forwarded-for', '1.2.3.4, \u0000']]),
  fc.constant<Array<[string, string]>>([['accept', 'text/html']]),
  fc.constant<Array<[string, string]>>([['accept-charset', 'utf-7']]),
  fc.constant<Array<[string, string]>>([['host', 'evil.example']]),
  fc.string({ unit: anyCodeUnit, maxLength: 20 }).map((v): Array<[string, string]> => [['x-odd', v]]),
)

/** The credential a route really takes, so most requests get past authentication. */
function fittingCredential(route: Route): fc.Arbitrary<Credential> {
  const good = (ref: Ref): fc.Arbitrary<Value> =>
    fc.oneof({ weight: 4, arbitrary: fc.constant<Value>({ ref, spoil: 'none' }) }, refValue([ref]))
  if (route.path.startsWith('/admin'))
    return fc.record({
      kind: fc.constant('bearer' as const),
      value: good('adminAccess'),
      scheme: fc.constant('Bearer'),
    })
  if (route.security.some((s) => s.startsWith('clientSecret')))
    return fc.record({ kind: fc.constant('basic' as const), id: good('clientId'), secret: good('clientSecret') })
  if (route.path.startsWith('/auth') || route.path === '/oauth/userinfo')
    return fc.record({ kind: fc.constant('bearer' as const), value: good('userAccess'), scheme: fc.constant('Bearer') })
  return fc.constant({ kind: 'none' })
}

/** Any credential in the Authorization slot: a real one where it does not belong, a spoiled one, junk. */
function anyCredential(route: Route): fc.Arbitrary<Credential> {
  const token = fc.oneof(
    refValue(['userAccess', 'adminAccess', 'clientAccess', 'refresh', 'clientSecret']),
    hostileText.map((text) => ({ text })),
  )
  const basicPart = (likely: Ref[]) =>
    fc.oneof(
      refValue(likely),
      hostileText.map((text) => ({ text })),
    )
  const wantsClient = route.security.some((s) => s.startsWith('clientSecret'))
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant<Credential>({ kind: 'none' }) },
    {
      weight: route.security.includes('bearerToken') || route.path.startsWith('/admin') ? 5 : 2,
      arbitrary: fc.record({
        kind: fc.constant('bearer' as const),
        value: token,
        scheme: fc.constantFrom('Bearer', 'bearer', 'BEARER', 'DPoP', 'Bearer  ', 'Bearer\t', 'Token'),
      }),
    },
    {
      weight: wantsClient ? 5 : 1,
      arbitrary: fc.record({
        kind: fc.constant('basic' as const),
        id: basicPart(['clientId', 'codeClientId', 'victimClientId', 'adminAccess']),
        secret: basicPart(['clientSecret', 'password']),
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          'Basic',
          'Basic ',
          'Basic !!!',
          'Basic ' + Buffer.from('no-colon').toString('base64'),
          'Basic ' + Buffer.from(':').toString('base64'),
          'Basic ' + Buffer.from('%zz:%zz').toString('base64'),
          'Basic ' + Buffer.from('a\u0000:b').toString('base64'),
          'Basic ' + 'QUFB'.repeat(2000),
          'Bearer',
          'Bearer ' + ' '.repeat(6000) + 'a b',
          'Negotiate abc',
          'Bearer a, Basic b',
        )
        .map((value): Credential => ({ kind: 'raw-authorization', value })),
    },
  )
}

/** The session cookie where the first-party API reads it, or a spoiled, foreign or huge one. */
function cookieSlot(route: Route): fc.Arbitrary<HostileRequest['cookie']> {
  const wantsSession = route.security.includes('sessionCookie') || route.path.startsWith('/account')
  return fc.oneof(
    { weight: wantsSession ? 1 : 6, arbitrary: fc.constant(null) },
    {
      weight: wantsSession ? 6 : 0,
      arbitrary: fc.constant({ name: '__Host-latchkey_session', value: { ref: 'refresh', spoil: 'none' } as Value }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        name: fc.constantFrom(
          '__Host-latchkey_session',
          '__Host-latchkey_signin',
          'latchkey_session',
          '__Host-latchkey_session=a; __Host-latchkey_session',
        ),
        value: fc.oneof(
          refValue(['refresh', 'userAccess', 'sessionId']),
          hostileText.map((text) => ({ text: text.replace(/[;\r\n]/g, '') })),
          fc.integer({ min: 4000, max: 30_000 }).map((n) => ({ text: 'c'.repeat(n) })),
        ),
      }),
    },
  )
}

/**
 * The authorization endpoint reads its parameters itself (they are an OAuth request, not a schema):
 * a route that documents no parameters at all is sent these, with values a client would use.
 */
const undocumentedOAuthQuery: Array<{ name: string; schema: JsonSchema }> = [
  { name: 'response_type', schema: { enum: ['code', 'token', 'code id_token'] } },
  { name: 'client_id', schema: { type: 'string' } },
  { name: 'redirect_uri', schema: { type: 'string' } },
  { name: 'scope', schema: { enum: ['openid', 'openid profile email', 'notes:read', 'latchkey:admin'] } },
  { name: 'state', schema: { type: 'string' } },
  { name: 'code_challenge', schema: { enum: ['E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'] } },
  { name: 'code_challenge_method', schema: { enum: ['S256', 'plain'] } },
  { name: 'nonce', schema: { type: 'string' } },
  { name: 'prompt', schema: { enum: ['none', 'login', 'consent'] } },
]

/** What a first-party browser app sends with a cookie request (test/helpers/users.ts). */
const browserHeaders: Array<[string, string]> = [
  ['origin', 'http://localhost:3000'],
  ['x-requested-with', 'latchkey'],
]

/**
 * A hostile request for one route: its schema decides the names, fast-check everything else.
 * Each part of the request is usually what the route expects and sometimes hostile, so that most
 * requests get past content-type, authentication and the schema into the code behind them.
 */
export function hostileRequestFor(route: Route): fc.Arbitrary<HostileRequest> {
  const mostly = <T>(usual: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>, odds = 4) =>
    fc.oneof({ weight: odds, arbitrary: usual }, { weight: 1, arbitrary: hostile })
  const strayField = fc.tuple(
    fc.oneof(fc.constantFrom(...strayNames), hostileText),
    fc.oneof(
      refValue(refs),
      hostileText.map((text): Value => ({ text })),
    ),
  )
  /** Each documented field usually present, plus now and then a stray one or a repeat. */
  const fieldsOf = (documented: Array<{ name: string; schema: JsonSchema }>) =>
    fc
      .tuple(
        fc.tuple(
          ...documented.map((f) =>
            mostly(
              fc.tuple(fc.constant(f.name), valueFor(f.name, f.schema)).map((pair): [string, Value] | null => pair),
              fc.constant(null),
              5,
            ),
          ),
        ),
        mostly(fc.constant<Array<[string, Value]>>([]), fc.array(strayField, { minLength: 1, maxLength: 3 })),
        mostly(fc.constant(false), fc.constant(true), 6),
      )
      .map(([chosen, stray, repeat]) => {
        const fields = [...chosen.filter((pair): pair is [string, Value] => pair !== null), ...stray]
        // A repeated parameter (RFC 6749 §3.1): the first one again.
        return repeat && fields.length > 0 ? [...fields, fields[0]!] : fields
      })
  const formRoute = route.bodyType?.includes('form') ?? false
  const body: fc.Arbitrary<HostileRequest['body']> = mostly(
    route.bodyType
      ? fc.record({
          kind: fc.constant('fields' as const),
          fields: fieldsOf(route.bodyFields),
          encoding: fc.constant<'json' | 'form'>(formRoute ? 'form' : 'json'),
        })
      : fc.constant({ kind: 'none' as const }),
    fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({
        kind: fc.constant('fields' as const),
        fields: fieldsOf(route.bodyFields),
        encoding: fc.constantFrom<'json' | 'form'>('json', 'form'),
      }),
      fc
        .oneof(
          fc.constantFrom(...brokenBodies),
          fc.string({ unit: anyCodeUnit, maxLength: 200 }),
          deepJson.map((d) => String(d.json)),
        )
        .map((text) => ({ kind: 'raw' as const, text })),
    ),
  )
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']
  const cookieRoute = route.security.includes('sessionCookie') || route.path.startsWith('/auth')
  return fc.record({
    method: mostly(fc.constant(route.method), fc.constantFrom(...methods), 12),
    pathParams: fc.tuple(...route.pathParams.map((name) => valueFor(name, { type: 'string' }))),
    pathSuffix: mostly(fc.constant(''), fc.constantFrom('/', '%2F', '/..', '//', '%00', ';a=b'), 12),
    query: fieldsOf(route.query.length > 0 || route.bodyFields.length > 0 ? route.query : undocumentedOAuthQuery),
    body,
    contentType: mostly(fc.constant(null), fc.constantFrom(...contentTypes), 6),
    credential: mostly(fittingCredential(route), anyCredential(route), 2),
    dpop: mostly(
      fc.constant(null),
      fc.oneof(
        refValue(['userAccess', 'clientAccess']),
        hostileText.map((text): Value => ({ text })),
      ),
      6,
    ),
    cookie: cookieSlot(route),
    extraHeaders: mostly(fc.constant<Array<[string, string]>>(cookieRoute ? browserHeaders : []), oversizedHeaders, 6),
  })
}
