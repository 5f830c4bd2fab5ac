// Can two kinds of request be told apart by their response time? (ASVS 6.3.8: a known and an
// unknown account must not be.) A p99 difference answers badly: one outlier moves it, and it says
// nothing about chance. Instead, on interleaved samples:
//   - a Mann–Whitney U test (two-sided, normal approximation with tie and continuity corrections,
//     as R's wilcox.test(exact = FALSE) and SciPy's mannwhitneyu(method = 'asymptotic')): how
//     likely a difference at least this large is if both come from one distribution;
//   - Cliff's delta, P(a > b) − P(a < b): the effect size, independent of the sample size
//     (|δ| < 0.147 is "negligible", Romano et al. 2006);
//   - the median difference with a percentile-bootstrap 95 % confidence interval, in milliseconds.
// With thousands of samples a tiny, harmless difference becomes "significant", so the verdict is
// an equivalence test, not the p-value: HOLDS when δ is negligible and the whole 95 % interval of
// the median difference lies within ±toleranceMs.
import { errorFunction, median, quantileSorted, wilcoxonRankSum } from 'simple-statistics'

export interface TimingComparison {
  n: { a: number; b: number }
  medianMs: { a: number; b: number }
  /** Mann–Whitney U of sample a. */
  u: number
  z: number
  /** Two-sided p-value of the Mann–Whitney U test. */
  pValue: number
  /** Cliff's delta, P(a > b) − P(a < b), from −1 to 1. */
  cliffsDelta: number
  /** median(a) − median(b), with its percentile-bootstrap 95 % confidence interval. */
  medianDifferenceMs: { estimate: number; ci95: [number, number] }
  toleranceMs: number
  holds: boolean
}

/** Below this |δ| an effect is negligible (Romano, Kromrey et al., 2006). */
const NEGLIGIBLE_CLIFFS_DELTA = 0.147

/** Two-sided Mann–Whitney U test of a against b (normal approximation, tie and continuity corrections). */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): { u: number; z: number; pValue: number } {
  const n1 = a.length
  const n2 = b.length
  if (n1 === 0 || n2 === 0) throw new RangeError('both samples need at least one value')
  const u = wilcoxonRankSum([...a], [...b]) - (n1 * (n1 + 1)) / 2
  const n = n1 + n2
  // Ties shrink the variance: Σ(t³ − t) over every group of equal values.
  const counts = new Map<number, number>()
  for (const value of [...a, ...b]) counts.set(value, (counts.get(value) ?? 0) + 1)
  let ties = 0
  for (const t of counts.values()) ties += t * t * t - t
  const variance = ((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1)))
  const mean = (n1 * n2) / 2
  if (variance === 0) return { u, z: 0, pValue: 1 }
  const distance = Math.max(Math.abs(u - mean) - 0.5, 0)
  const z = (Math.sign(u - mean) * distance) / Math.sqrt(variance)
  // 2 × (1 − Φ(|z|)), with Φ(x) = (1 + erf(x / √2)) / 2 (simple-statistics' table lookup of Φ has
  // only two digits).
  const pValue = Math.min(1, 1 - errorFunction(Math.abs(z) / Math.SQRT2))
  return { u, z, pValue }
}

/** Cliff's delta: P(a > b) − P(a < b), from the U statistic (ties count half). */
export function cliffsDelta(a: readonly number[], b: readonly number[]): number {
  const u = wilcoxonRankSum([...a], [...b]) - (a.length * (a.length + 1)) / 2
  return (2 * u) / (a.length * b.length) - 1
}

/** A small seeded generator (mulberry32) so a bootstrap can be replayed; not for anything secret. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function resampledMedian(values: readonly number[], random: () => number): number {
  const sample = new Float64Array(values.length)
  for (let i = 0; i < values.length; i++) sample[i] = values[Math.floor(random() * values.length)]!
  sample.sort()
  const mid = values.length >> 1
  return values.length % 2 === 1 ? sample[mid]! : (sample[mid - 1]! + sample[mid]!) / 2
}

/** Percentile-bootstrap 95 % confidence interval of median(a) − median(b), each sample resampled on its own. */
export function bootstrapMedianDifference(
  a: readonly number[],
  b: readonly number[],
  { resamples = 2000, random = seededRandom(1) }: { resamples?: number; random?: () => number } = {},
): { estimate: number; ci95: [number, number] } {
  const differences: number[] = []
  for (let i = 0; i < resamples; i++) differences.push(resampledMedian(a, random) - resampledMedian(b, random))
  differences.sort((x, y) => x - y)
  return {
    estimate: median([...a]) - median([...b]),
    ci95: [quantileSorted(differences, 0.025), quantileSorted(differences, 0.975)],
  }
}

/** The whole comparison of two interleaved timing samples, in milliseconds, and its verdict. */
export function compareTimings(
  a: readonly number[],
  b: readonly number[],
  { toleranceMs, resamples, seed = 1 }: { toleranceMs: number; resamples?: number; seed?: number },
): TimingComparison {
  const { u, z, pValue } = mannWhitneyU(a, b)
  const delta = cliffsDelta(a, b)
  const difference = bootstrapMedianDifference(a, b, { resamples, random: seededRandom(seed) })
  return {
    n: { a: a.length, b: b.length },
    medianMs: { a: median([...a]), b: median([...b]) },
    u,
    z,
    pValue,
    cliffsDelta: delta,
    medianDifferenceMs: difference,
    toleranceMs,
    holds:
      Math.abs(delta) < NEGLIGIBLE_CLIFFS_DELTA &&
      difference.ci95[0] >= -toleranceMs &&
      difference.ci95[1] <= toleranceMs,
  }
}

/** One line for the console: the verdict, the p-value and both effect sizes. */
export function describeComparison(label: string, c: TimingComparison): string {
  const ms = (v: number) => v.toFixed(2)
  return [
    `${c.holds ? 'HOLDS ' : 'MISSED'}  ${label}: ${c.n.a} + ${c.n.b} samples,`,
    `medians ${ms(c.medianMs.a)} / ${ms(c.medianMs.b)} ms,`,
    `median difference ${ms(c.medianDifferenceMs.estimate)} ms`,
    `(95 % CI ${ms(c.medianDifferenceMs.ci95[0])} to ${ms(c.medianDifferenceMs.ci95[1])}, tolerance ±${c.toleranceMs} ms),`,
    `Cliff's δ ${c.cliffsDelta.toFixed(3)} (negligible below ${NEGLIGIBLE_CLIFFS_DELTA}),`,
    `Mann–Whitney p = ${c.pValue.toPrecision(3)}`,
  ].join(' ')
}
