import t from 'tap'
import nodeArgon2 from 'argon2'
import { ServiceUnavailable } from '../../server/errors.js'
import { argon2ParamsOf } from '../../server/users/dummy-hash-params.js'
import { createPasswordHasher, defaultHashingConcurrency } from '../../server/users/password-hasher.js'

const light = { memoryCost: 8192, timeCost: 1, parallelism: 1 }

t.test('OWASP parameters produce an argon2id hash that verifies', async (t) => {
  const hasher = createPasswordHasher({ params: { memoryCost: 19456, timeCost: 2, parallelism: 1 } })
  const hash = await hasher.hash('a long enough passphrase')
  t.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'PHC order: m, t, p')
  t.equal(await hasher.verify(hash, 'a long enough passphrase'), true)
  t.equal(await hasher.verify(hash, 'another passphrase'), false)
  t.equal(hasher.needsRehash(hash), false)
  t.equal(createPasswordHasher({ params: light }).needsRehash(hash), true, 'other parameters ask for a rehash')
})

t.test(
  'hashes written by node-argon2 (earlier versions, m,p,t order) verify, and are not rehashed needlessly',
  async (t) => {
    const owasp = { memoryCost: 19456, timeCost: 2, parallelism: 1 }
    const old = await nodeArgon2.hash('a long enough passphrase', { type: nodeArgon2.argon2id, ...owasp })
    t.match(old, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/, 'node-argon2 writes p before t')
    const hasher = createPasswordHasher({ params: owasp })
    t.equal(await hasher.verify(old, 'a long enough passphrase'), true)
    t.equal(await hasher.verify(old, 'another passphrase'), false)
    t.same(argon2ParamsOf(old), { algorithm: 'argon2id', ...owasp }, 'parameters are read by name')
    t.equal(hasher.needsRehash(old), false, 'same parameters in the other order: no rehash')
    t.equal(createPasswordHasher({ params: light }).needsRehash(old), true)
    // And the other way round: what Latchkey writes now, node-argon2 still reads (a rollback is safe).
    t.equal(await nodeArgon2.verify(await hasher.hash('a long enough passphrase'), 'a long enough passphrase'), true)
    const argon2i = await nodeArgon2.hash('x', { type: nodeArgon2.argon2i, ...owasp })
    t.equal(hasher.needsRehash(argon2i), true, 'another variant is upgraded to argon2id')
    for (const malformed of ['', 'not a hash', '$argon2id$v=19$m=1,t=2$salt$hash', '$argon2id$v=19$m=1,t=2,x=1$s$h'])
      t.equal(argon2ParamsOf(malformed), null, `unreadable: ${JSON.stringify(malformed)}`)
  },
)

t.test('a malformed stored hash never verifies and never throws', async (t) => {
  const hasher = createPasswordHasher({ params: light })
  t.equal(await hasher.verify('not a hash', 'x'), false)
  t.equal(await hasher.verifyDummy('anything at all'), false)
})

t.test('a full queue answers 503 with Retry-After at once, and queued work still completes', async (t) => {
  const hasher = createPasswordHasher({ params: light, concurrency: 1, maxQueue: 1 })
  const first = hasher.hash('one passphrase here')
  const second = hasher.hash('two passphrase here')
  t.same(hasher.stats(), { running: 1, queued: 1 })
  await t.rejects(
    hasher.hash('three passphrase here'),
    new ServiceUnavailable('too many password checks in progress, retry shortly', 1),
  )
  try {
    await hasher.hash('four passphrase here')
  } catch (error) {
    t.same((error as ServiceUnavailable).headers, { 'retry-after': '1' })
    t.equal((error as ServiceUnavailable).status, 503)
  }
  t.match(await first, /^\$argon2id\$/)
  t.match(await second, /^\$argon2id\$/)
  t.same(hasher.stats(), { running: 0, queued: 0 })
})

t.test('regression: a dummy hash refused by a full queue is not remembered', async (t) => {
  const hasher = createPasswordHasher({ params: light, concurrency: 1, maxQueue: 0 })
  const busy = hasher.hash('keeps the only slot busy')
  await t.rejects(
    hasher.verifyDummy('unknown account password'),
    new ServiceUnavailable('too many password checks in progress, retry shortly', 1),
  )
  await busy
  t.equal(await hasher.verifyDummy('unknown account password'), false, 'unknown accounts get the normal answer again')
})

t.test('hashing concurrency leaves a core free and shrinks as argon2 uses more lanes per hash', async (t) => {
  const os = await import('node:os')
  const cores = os.availableParallelism()
  const base = Math.max(1, Math.min(cores - 1, 3))
  t.equal(defaultHashingConcurrency(), base)
  t.equal(defaultHashingConcurrency(2), Math.max(1, Math.floor(base / 2)))
  t.equal(defaultHashingConcurrency(64), 1, 'never below one')
})
