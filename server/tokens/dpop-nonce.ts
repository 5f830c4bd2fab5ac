import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../clock.js'

/** How long one nonce is current; it is accepted for one more window after (RFC 9449 §8). */
const NONCE_WINDOW_MS = 5 * 60_000

/**
 * RFC 9449 §8 server nonces without state: the nonce of a time window is an HMAC of the window's
 * number under a key derived from the KEK, so every instance sharing the KEK issues and accepts
 * the same ones, and nonces rotate by themselves. The window before and after the current one are
 * accepted too: a nonce handed out just before a rotation, or by an instance whose clock is a
 * little ahead, still works.
 */
export function createDpopNonces(key: Uint8Array, clock: Clock) {
  const nonceOf = (window: number) => createHmac('sha256', key).update(`dpop-nonce ${window}`).digest('base64url')
  const windowAt = (now: number) => Math.floor(now / NONCE_WINDOW_MS)
  return {
    current(): string {
      return nonceOf(windowAt(clock.now()))
    },
    isValid(nonce: string | undefined): boolean {
      if (nonce === undefined) return false
      const given = Buffer.from(nonce)
      const window = windowAt(clock.now())
      let valid = false
      for (const candidate of [window - 1, window, window + 1]) {
        const expected = Buffer.from(nonceOf(candidate))
        if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true
      }
      return valid
    },
  }
}

export type DpopNonces = ReturnType<typeof createDpopNonces>
