// Signs a command-line program in through Latchkey's device sign-in (RFC 8628): it asks for a
// code, tells the user where to enter it, and polls until they answer in a browser elsewhere.
// Plain fetch, no library. Usage:
//   LATCHKEY_ISSUER=http://127.0.0.1:3000 DEVICE_CLIENT_ID=… node --import tsx examples/device-cli/cli.ts

interface Metadata {
  device_authorization_endpoint: string
  token_endpoint: string
  userinfo_endpoint: string
}

interface OAuthErrorBody {
  error?: string
  error_description?: string
}

const issuer = process.env.LATCHKEY_ISSUER
const clientId = process.env.DEVICE_CLIENT_ID
const scope = process.env.DEVICE_SCOPE ?? 'openid email'
if (!issuer || !clientId) {
  console.error('Set LATCHKEY_ISSUER and DEVICE_CLIENT_ID (a public client with the device_code grant).')
  process.exit(2)
}

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000))
const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
})

const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Metadata

// RFC 8628 §3.1–3.2
const started = await fetch(metadata.device_authorization_endpoint, form({ client_id: clientId, scope }))
if (!started.ok) {
  const body = (await started.json()) as OAuthErrorBody
  console.error(`Latchkey refused the sign-in: ${body.error}: ${body.error_description}`)
  process.exit(1)
}
const device = (await started.json()) as {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete: string
  expires_in: number
  interval: number
}
console.log(`To sign in, open ${device.verification_uri} and enter the code ${device.user_code}`)
console.log(`(or open ${device.verification_uri_complete})`)

// RFC 8628 §3.4–3.5: wait the interval between polls; slow_down adds 5 seconds.
let interval = device.interval
for (;;) {
  await sleep(interval)
  const res = await fetch(
    metadata.token_endpoint,
    form({
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: device.device_code,
      client_id: clientId,
    }),
  )
  const body = (await res.json()) as OAuthErrorBody & { access_token?: string }
  if (res.ok && body.access_token) {
    const me = (await (
      await fetch(metadata.userinfo_endpoint, { headers: { authorization: `Bearer ${body.access_token}` } })
    ).json()) as { sub: string; email?: string }
    console.log(`Signed in as ${me.email ?? me.sub}`)
    break
  }
  if (body.error === 'authorization_pending') continue
  if (body.error === 'slow_down') {
    interval += 5
    continue
  }
  if (body.error === 'access_denied') console.error('The sign-in was denied.')
  else if (body.error === 'expired_token') console.error('The code expired before anyone entered it. Run again.')
  else console.error(`Sign-in failed: ${body.error}: ${body.error_description}`)
  process.exit(1)
}
