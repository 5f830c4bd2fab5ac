import t from 'tap'
import {
  bootstrapMedianDifference,
  cliffsDelta,
  compareTimings,
  describeComparison,
  mannWhitneyU,
  seededRandom,
} from '../../bench/lib/timing-comparison.js'

// Reference values from SciPy 1.17: mannwhitneyu(a, b, alternative='two-sided', method='asymptotic',
// use_continuity=True) (the same as R's wilcox.test(a, b, exact = FALSE)).
const references = [
  { a: [1, 2, 3], b: [4, 5, 6], u: 0, p: 0.08085559837005224 },
  { a: [1.1, 2.2, 2.2, 3.5, 4.0, 7.1, 8.0], b: [2.2, 3.0, 3.5, 5.5, 6.0, 9.1], u: 16.5, p: 0.5650247805077633 },
  { a: [12, 15, 11, 19, 14, 17, 13, 16], b: [10, 9, 12, 13, 8, 11, 14, 7], u: 56, p: 0.013313002763816655 },
]

t.test('the Mann–Whitney U test gives the U and p-value SciPy gives, ties included', async (t) => {
  for (const { a, b, u, p } of references) {
    const result = mannWhitneyU(a, b)
    t.equal(result.u, u, `U of ${JSON.stringify(a)}`)
    t.ok(Math.abs(result.pValue - p) < 1e-6, `p ${result.pValue} ≈ ${p}`)
  }
})

t.test("Cliff's delta equals P(a > b) − P(a < b) counted pair by pair", async (t) => {
  for (const { a, b } of references) {
    let score = 0
    for (const x of a) for (const y of b) score += Math.sign(x - y)
    t.ok(Math.abs(cliffsDelta(a, b) - score / (a.length * b.length)) < 1e-12)
  }
  t.equal(cliffsDelta([1, 2, 3], [4, 5, 6]), -1)
  t.equal(cliffsDelta([7, 8], [1, 2]), 1)
})

t.test('a sample compared with itself: p = 1, δ = 0, a median difference of 0 inside its interval', async (t) => {
  const same = [5, 6, 7, 8, 9]
  const result = compareTimings(same, same, { toleranceMs: 1 })
  t.equal(result.pValue, 1)
  t.equal(result.cliffsDelta, 0)
  t.equal(result.medianDifferenceMs.estimate, 0)
  t.ok(result.medianDifferenceMs.ci95[0] <= 0 && 0 <= result.medianDifferenceMs.ci95[1])
  // Five values resampled on their own vary by more than ±1 ms: too few to claim equivalence.
  t.equal(result.holds, false)
})

// Two samples from one noisy distribution, b shifted by `shift` ms.
function samples(n: number, shift: number, seed: number): { a: number[]; b: number[] } {
  const random = seededRandom(seed)
  const noise = () => 40 + 10 * (random() + random() + random())
  return { a: Array.from({ length: n }, noise), b: Array.from({ length: n }, () => noise() + shift) }
}

t.test('the bootstrap interval of the median difference brackets a known shift', async (t) => {
  const { a, b } = samples(1000, 4, 7)
  const { estimate, ci95 } = bootstrapMedianDifference(b, a, { resamples: 1000 })
  t.ok(ci95[0] < 4 && 4 < ci95[1], `95 % CI ${ci95.join(' to ')} contains 4`)
  t.ok(ci95[0] <= estimate && estimate <= ci95[1])
  t.ok(ci95[1] - ci95[0] < 2, 'narrow with 1,000 samples each')
})

t.test('the bootstrap is reproducible from its seed', async (t) => {
  const { a, b } = samples(200, 0, 3)
  t.same(
    bootstrapMedianDifference(a, b, { resamples: 200, random: seededRandom(9) }),
    bootstrapMedianDifference(a, b, { resamples: 200, random: seededRandom(9) }),
  )
})

t.test('the verdict: HOLDS for one distribution, MISSED for a shift beyond the tolerance', async (t) => {
  const same = samples(1000, 0, 11)
  const equal = compareTimings(same.a, same.b, { toleranceMs: 2, resamples: 500 })
  t.equal(equal.holds, true)
  t.ok(Math.abs(equal.cliffsDelta) < 0.147)
  t.match(describeComparison('login', equal), /^HOLDS +login: 1000 \+ 1000 samples/)

  const shifted = samples(1000, 5, 11)
  const apart = compareTimings(shifted.a, shifted.b, { toleranceMs: 2, resamples: 500 })
  t.equal(apart.holds, false)
  t.ok(apart.pValue < 1e-6, `p ${apart.pValue}`)
  t.ok(apart.cliffsDelta < -0.147, `δ ${apart.cliffsDelta}`)
  t.match(describeComparison('login', apart), /^MISSED +login/)
})

t.test('a small, consistent difference is significant yet HOLDS within the tolerance', async (t) => {
  const { a, b } = samples(2000, 0.3, 5)
  const result = compareTimings(a, b, { toleranceMs: 2, resamples: 500 })
  t.equal(result.holds, true)
})

t.test('an empty sample is refused', async (t) => {
  t.throws(() => mannWhitneyU([], [1]), RangeError)
})
