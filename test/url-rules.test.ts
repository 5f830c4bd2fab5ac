import t from 'tap'
import {
  findAbsoluteUriProblem,
  findOriginProblem,
  findRedirectUriProblem,
  findServerUrlProblem,
  isLoopbackHost,
} from '../server/url-rules.js'

t.test('loopback is localhost, 127.0.0.0/8 and ::1, with or without brackets', async (t) => {
  for (const host of ['localhost', '127.0.0.1', '127.255.0.9', '::1', '[::1]']) t.ok(isLoopbackHost(host), host)
  for (const host of ['example.com', '128.0.0.1', '127.0.0.1.example.com', 'localhost.example.com', '[::2]', '0.0.0.0'])
    t.notOk(isLoopbackHost(host), host)
})

t.test('an audience or resource is an absolute URI without a fragment', async (t) => {
  t.same(['https://api.example.com', 'urn:example:api', 'https://api.example.com/v1?x=1'].map(findAbsoluteUriProblem), [
    null,
    null,
    null,
  ])
  t.equal(findAbsoluteUriProblem('billing'), 'not_absolute')
  t.equal(findAbsoluteUriProblem('/api'), 'not_absolute')
  t.equal(findAbsoluteUriProblem('https://api.example.com#x'), 'fragment')
  t.equal(findAbsoluteUriProblem('https://api.example.com#'), 'fragment', 'an empty fragment counts')
})

t.test(
  'a redirect URI is https, http on loopback, or a private-use scheme; never a fragment or a local scheme',
  async (t) => {
    for (const uri of [
      'https://app.example.com/cb',
      'http://127.0.0.1:8080/cb',
      'http://[::1]/cb',
      'http://localhost:3000/cb',
      'com.example.app:/oauth2redirect',
    ])
      t.equal(findRedirectUriProblem(uri), null, uri)
    t.equal(findRedirectUriProblem('/cb'), 'not_absolute')
    t.equal(findRedirectUriProblem('https://app.example.com/cb#x'), 'fragment')
    t.equal(findRedirectUriProblem('http://app.example.com/cb'), 'cleartext')
    t.equal(findRedirectUriProblem('http://127.0.0.1.example.com/cb'), 'cleartext')
    for (const uri of ['javascript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', 'vbscript:x'])
      t.equal(findRedirectUriProblem(uri), 'forbidden_scheme', uri)
  },
)

t.test(
  "Latchkey's own URL is http(s), https off loopback, without credentials; a bare one has no query or fragment",
  async (t) => {
    t.equal(findServerUrlProblem('https://id.example.com', { bare: true }), null)
    t.equal(findServerUrlProblem('http://localhost:3000', { bare: true }), null)
    t.equal(findServerUrlProblem('id.example.com', { bare: true }), 'not_absolute')
    t.equal(findServerUrlProblem('ftp://id.example.com', { bare: true }), 'not_http')
    t.equal(findServerUrlProblem('http://id.example.com', { bare: true }), 'cleartext')
    t.equal(findServerUrlProblem('https://u:p@id.example.com', { bare: true }), 'credentials')
    t.equal(findServerUrlProblem('https://id.example.com/?a=b', { bare: true }), 'query')
    t.equal(findServerUrlProblem('https://id.example.com/?', { bare: true }), 'query', 'an empty query counts')
    t.equal(findServerUrlProblem('https://id.example.com/#top', { bare: true }), 'fragment')
    t.equal(findServerUrlProblem('https://id.example.com/account?tab=1#top', { bare: false }), null)
  },
)

t.test('a CORS origin is scheme://host[:port] only, https unless loopback', async (t) => {
  for (const origin of ['https://app.example.com', 'https://app.example.com/', 'http://localhost:5173'])
    t.equal(findOriginProblem(origin), null, origin)
  for (const origin of [
    '*',
    'null',
    'https://app.example.com/x',
    'ftp://app.example.com',
    'https://u:p@app.example.com',
  ])
    t.equal(findOriginProblem(origin), 'not_origin', origin)
  t.equal(findOriginProblem('http://app.example.com'), 'cleartext')
})
