import t from 'tap'
import { ApiError } from '../../server/errors.js'
import { isCommonPassword, loadCommonPasswords } from '../../server/users/common-passwords.js'
import { assertAcceptablePassword, normalizePassword } from '../../server/users/password-policy.js'
import { createPasswordHasher } from '../../server/users/password-hasher.js'

const context = { email: 'ada@example.com', minLength: 12 }
const refusal = (password: string) => {
  try {
    assertAcceptablePassword(password, context)
    return null
  } catch (error) {
    if (error instanceof ApiError) return { error: error.error, status: error.status, description: error.description }
    throw error
  }
}

t.test('the list holds at least 100,000 passwords from the shipped package', async (t) => {
  t.ok(loadCommonPasswords().size >= 100_000, `${loadCommonPasswords().size} entries of 8+ characters`)
  t.ok(isCommonPassword('password1234'))
  t.ok(isCommonPassword('PassWord1234'), 'case-insensitively')
  t.ok(isCommonPassword('ｑｗｅｒｔｙｕｉｏｐ１２３'), 'and whatever the width of the characters (NFKC)')
})

t.test('each rule refuses with its own code and never echoes the password', async (t) => {
  t.same(refusal('short one'), {
    error: 'password_too_short',
    status: 400,
    description: 'the password must be at least 12 characters long',
  })
  t.same(refusal('Password1234'), {
    error: 'password_too_common',
    status: 400,
    description: 'this password appears in lists of common or breached passwords; choose another',
  })
  t.same(refusal('my name is ADA and I rock'), {
    error: 'password_contains_email',
    status: 400,
    description: 'the password must not contain your email address',
  })
  t.same(refusal('a'.repeat(1025)), {
    error: 'password_too_long',
    status: 400,
    description: 'the password must be at most 1024 bytes',
  })
})

t.test('exactly 1,024 bytes is accepted and 1,025 is not, counted in UTF-8', async (t) => {
  const kilobyte = 'é'.repeat(512)
  t.equal(Buffer.byteLength(kilobyte), 1024)
  t.equal(refusal(kilobyte), null)
  t.equal(refusal(kilobyte + 'x')?.error, 'password_too_long')
})

t.test('no composition rules; long Unicode passphrases are fine', async (t) => {
  t.equal(refusal('correct horse battery staple'), null, 'lower-case words only')
  t.equal(refusal('🔑🚪🦄🌈'.repeat(32)), null, '128 emoji')
  t.equal(refusal('吾輩は猫である名前はまだ無い'), null, 'CJK, 13 code points')
  t.equal(refusal('cafe\u0301 au lait noir'), null, 'combining characters')
  t.equal(refusal('🔑🔑🔑🔑🔑🔑')?.error, 'password_too_short', '6 emoji are 6 characters, not 12')
})

t.test('NFKC makes equivalent spellings one password', async (t) => {
  const hasher = createPasswordHasher({ params: { memoryCost: 8192, timeCost: 1, parallelism: 1 } })
  const hash = await hasher.hash(normalizePassword('ｐａｓｓｐｈｒａｓｅ ﬁne day'))
  t.ok(await hasher.verify(hash, normalizePassword('passphrase fine day')))
})
