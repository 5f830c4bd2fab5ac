/** What an app shows: who is signed in, from the access token's claims (never verified here: the API does that). */
export type AuthState =
  { status: 'signed-in'; claims: Record<string, unknown>; expiresAt: number } | { status: 'signed-out' }

export type AuthListener = (state: AuthState) => void

/** Decodes a JWT's payload for display; returns {} for anything else. */
export function decodeClaims(jwt: string): Record<string, unknown> {
  try {
    const part = jwt.split('.')[1] ?? ''
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    )
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<
      string,
      unknown
    >
  } catch {
    return {}
  }
}

/** Holds the access token in memory (never in storage) and tells subscribers about changes. */
export class TokenHolder {
  private accessToken: string | null = null
  private expiresAt = 0
  private readonly listeners = new Set<AuthListener>()
  state: AuthState = { status: 'signed-out' }

  constructor(private readonly now: () => number) {}

  set(accessToken: string, expiresIn: number): void {
    this.accessToken = accessToken
    this.expiresAt = this.now() + expiresIn * 1000
    this.publish({ status: 'signed-in', claims: decodeClaims(accessToken), expiresAt: this.expiresAt })
  }

  clear(): void {
    const was = this.accessToken !== null
    this.accessToken = null
    this.expiresAt = 0
    if (was || this.state.status !== 'signed-out') this.publish({ status: 'signed-out' })
  }

  /** The token if it stays valid for at least `marginMs` more. */
  current(marginMs: number): string | null {
    return this.accessToken !== null && this.expiresAt - marginMs > this.now() ? this.accessToken : null
  }

  subscribe(listener: AuthListener): () => void {
    this.listeners.add(listener)
    listener(this.state)
    return () => this.listeners.delete(listener)
  }

  private publish(state: AuthState): void {
    this.state = state
    for (const listener of this.listeners) listener(state)
  }
}
