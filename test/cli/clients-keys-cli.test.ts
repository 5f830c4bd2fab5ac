import t from 'tap'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { exportJWK, generateKeyPair } from 'jose'
import { cliEnv, runLatchkey as latchkey } from '../helpers/run-cli.js'
import { provisionDatabase, testDirOf } from '../helpers/test-database.js'

// `latchkey clients create --jwks-file` / `--jwks-uri` (private_key_jwt), through the real command.
// SQLite only: the rules are the registration code's, covered on both dialects in
// test/http/private-key-jwt.test.ts; this checks the flags reach them.

t.test('clients create with --jwks-file and --jwks-uri', async (t) => {
  const dataDir = testDirOf(t)
  const env = cliEnv(dataDir, await provisionDatabase(t, 'sqlite', dataDir))
  const pair = await generateKeyPair('ES256', { extractable: true })
  const publicFile = path.join(dataDir, 'public.jwks.json')
  await writeFile(publicFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1' }] }))
  const privateFile = path.join(dataDir, 'private.jwks.json')
  await writeFile(privateFile, JSON.stringify({ keys: [await exportJWK(pair.privateKey)] }))

  const created = await latchkey(['clients', 'create', '--name', 'signer', '--jwks-file', publicFile, '--json'], env)
  t.equal(created.code, 0, created.stderr)
  const client = JSON.parse(created.stdout)
  t.match(client, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: null, jwks: { keys: [{ kid: 'k1' }] } })
  t.notOk('client_secret' in client, 'no secret is made')

  const updated = await latchkey(
    ['clients', 'update', client.client_id, '--jwks-uri', 'https://keys.example.com/jwks.json', '--json'],
    env,
  )
  t.equal(updated.code, 0, updated.stderr)
  t.match(JSON.parse(updated.stdout), { jwks_uri: 'https://keys.example.com/jwks.json', jwks: null })

  // A leaked key: new keys with --revoke-old void what the old ones obtained (a client cut-off).
  const voided = await latchkey(
    ['clients', 'update', client.client_id, '--jwks-file', publicFile, '--revoke-old', '--json'],
    env,
  )
  t.equal(voided.code, 0, voided.stderr)
  const trail = await latchkey(['audit', 'list', '--type', 'client.updated', '--json'], env)
  t.equal(trail.code, 0, trail.stderr)
  t.match(JSON.parse(trail.stdout)[0].details, {
    target_client_id: client.client_id,
    changed: 'jwks',
    revoke_old: true,
    sessions_revoked: 0,
  })
  const noKeys = await latchkey(['clients', 'update', client.client_id, '--name', 'renamed', '--revoke-old'], env)
  t.equal(noKeys.code, 1)
  t.equal(noKeys.stderr.trim(), 'latchkey: revoke_old needs new keys (jwks or jwks_uri) in the same change')

  const refused = await latchkey(['clients', 'create', '--name', 'oops', '--jwks-file', privateFile], env)
  t.equal(refused.code, 1)
  t.equal(
    refused.stderr.trim(),
    'latchkey: the JWKS key 1 holds private or symmetric key material: register only the public key',
  )
  t.notOk(refused.stderr.includes(String((await exportJWK(pair.privateKey)).d)), 'the private key is not echoed')
})
