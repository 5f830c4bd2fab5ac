import type { ScopeDescription } from './signin-pages.js'

// What the consent page says each scope lets the app do; other scopes are shown by name.
const known: Record<string, string> = {
  openid: 'Know who you are (your account id)',
  email: 'See your email address',
  profile: 'See your name',
  offline_access: 'Stay connected while you are away',
}

export function describeScopes(scopes: string[]): ScopeDescription[] {
  return scopes.map((scope) => ({ scope, text: known[scope] ?? 'Use the permission' }))
}
