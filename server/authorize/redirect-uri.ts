/**
 * RFC 9700 §2.1 / RFC 6749 §3.1.2.3: the redirect_uri must equal a registered one, character for
 * character: no normalisation, no prefix or case-insensitive matching. RFC 8252 §7.3: for an http
 * redirect to a loopback IP literal (native apps), only the port may differ.
 */
export function matchRedirectUri(requested: string, registered: readonly string[]): boolean {
  return registered.some((uri) => uri === requested || matchesLoopbackIgnoringPort(requested, uri))
}

const loopbackPrefixes = ['http://127.0.0.1', 'http://[::1]']

function matchesLoopbackIgnoringPort(requested: string, registered: string): boolean {
  const prefix = loopbackPrefixes.find((p) => registered.startsWith(p))
  if (prefix === undefined || !requested.startsWith(prefix)) return false
  const rest = (uri: string): string | null => {
    const after = uri.slice(prefix.length)
    const port = /^:(\d{1,5})/.exec(after)
    if (port && Number(port[1]) > 65535) return null // not a port: the URI would not even parse
    return port ? after.slice(port[0].length) : after
  }
  const registeredRest = rest(registered)
  const requestedRest = rest(requested)
  if (registeredRest === null || requestedRest === null) return false
  // The path must start right after the authority: "http://127.0.0.1.evil.example/" is not loopback.
  return (registeredRest === '' || registeredRest.startsWith('/')) && requestedRest === registeredRest
}

/** The CSP form-action source that lets a form's redirect reach this URI. */
export function formActionSourceOf(uri: string): string {
  const url = new URL(uri)
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol
}
