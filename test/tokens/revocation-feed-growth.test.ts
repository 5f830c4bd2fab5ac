import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { revokeClientRateLimit } from '../../server/http/rate-limit.js'
import { REVOCATION_FEED_REFRESH_MS } from '../../server/tokens/revocation-feed.js'

const form = 'application/x-www-form-urlencoded'
const LOOPS = revokeClientRateLimit.max + 50

for (const dialect of testDialects()) {
  t.test(`a mint-and-revoke loop on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const looper = await registerClient(testApp, { name: 'looper' })
    const bystander = await registerClient(testApp, { name: 'bystander' })
    const mintAndRevoke = async (basic: string) => {
      const minted = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form, authorization: basic },
        payload: 'grant_type=client_credentials',
      })
      return testApp.app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': form, authorization: basic },
        payload: `token=${minted.json().access_token as string}`,
      })
    }
    const statuses: number[] = []
    let refused: Awaited<ReturnType<typeof mintAndRevoke>> | null = null
    for (let i = 0; i < LOOPS; i++) {
      const res = await mintAndRevoke(looper.basic)
      statuses.push(res.statusCode)
      if (res.statusCode === 429) refused ??= res
    }
    testApp.clock.advance(REVOCATION_FEED_REFRESH_MS)
    const feed = await testApp.app.inject('/oauth/revocations')
    const bytes = Buffer.byteLength(feed.body)
    t.comment(
      `${LOOPS} mint-and-revoke rounds: ${statuses.filter((s) => s === 200).length} revoked, feed ${bytes} bytes`,
    )

    t.equal(
      statuses.filter((s) => s === 200).length,
      revokeClientRateLimit.max,
      'one client revokes at most its budget',
    )
    t.equal(feed.json().tokens.length, revokeClientRateLimit.max, 'regression: every round added a feed entry')
    t.ok(bytes < revokeClientRateLimit.max * 80, `the feed stays bounded (${bytes} bytes)`)
    t.equal(refused!.headers['cache-control'], 'no-store')
    t.match(refused!.headers['retry-after'], /^\d+$/)
    t.same(refused!.json(), {
      error: 'rate_limited',
      error_description: `too many requests, retry after ${refused!.headers['retry-after'] as string} seconds`,
    })
    t.equal((await mintAndRevoke(bystander.basic)).statusCode, 200, "another client's budget is its own")
  })
}
