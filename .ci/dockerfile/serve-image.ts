import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { DockerfileError } from './parse-dockerfile.js'

const HEALTH_TIMEOUT_MS = 90_000
const STOP_TIMEOUT_MS = 15_000
/** JWK members that carry private or symmetric key material (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

export interface ImageToServe {
  /** The runtime stage's root directory, standing in for the image's `/`. */
  root: string
  workdir: string
  env: Record<string, string>
  cmd: string[]
  healthcheck: string[]
  /** Argv prefix that drops to the non-root runtime user (empty when not root). */
  runAs: string[]
}

const inStage = (root: string, imagePath: string) => path.join(root, path.posix.resolve('/', imagePath))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/**
 * What `docker run` then `docker stop` would do with the runtime stage: the CMD started as the
 * non-root user on loopback, the HEALTHCHECK until it passes, /healthz and the public JWKS
 * checked, then SIGTERM and a clean exit 0. Returns lines describing what was checked.
 */
export async function serveImage(image: ImageToServe): Promise<string[]> {
  const { root, cmd, healthcheck, runAs } = image
  const [program, ...cmdArgs] = cmd
  const stageBin = inStage(root, '/usr/local/bin')
  if (!program || !fs.existsSync(path.join(stageBin, program)))
    throw new DockerfileError(`the CMD's program "${program}" is not in the stage's /usr/local/bin`)
  const port = await freePort()
  const env: Record<string, string> = { PATH: `${stageBin}:${process.env.PATH ?? '/usr/bin:/bin'}` }
  for (const [key, value] of Object.entries(image.env)) env[key] = value.startsWith('/') ? inStage(root, value) : value
  // Loopback only: this machine's network rules, and nothing else needs to reach it.
  Object.assign(env, { HOST: '127.0.0.1', PORT: String(port) })
  const cwd = inStage(root, image.workdir)

  const [serverFile, ...serverArgs] = [...runAs, path.join(stageBin, program), ...cmdArgs] as [string, ...string[]]
  const server: ChildProcess = spawn(serverFile, serverArgs, {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  server.stdout?.on('data', (chunk) => (output += chunk))
  server.stderr?.on('data', (chunk) => (output += chunk))
  // An object, so that the narrowing of a local variable does not hide the exit handler's write.
  const state: { exit: { code: number | null; signal: string | null } | null } = { exit: null }
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    server.on('exit', (code, signal) => resolve((state.exit = { code, signal }))),
  )
  server.on('error', (error) => {
    output += `cannot start ${serverFile}: ${error.message}\n`
    state.exit = { code: null, signal: null }
  })
  const fail = (message: string): never => {
    const lines = output.trimEnd().split('\n').slice(-30)
    throw new DockerfileError(`${message}\n  server output (last lines):\n${lines.map((l) => `    | ${l}`).join('\n')}`)
  }
  const checked: string[] = []
  try {
    const started = Date.now()
    let attempts = 0
    for (;;) {
      if (state.exit) fail(`the server exited (${state.exit.code ?? state.exit.signal}) before its HEALTHCHECK passed`)
      attempts++
      const [probeFile, ...probeArgs] = [...runAs, ...healthcheck] as [string, ...string[]]
      const status = await new Promise<number | null>((resolve) => {
        const probe = spawn(probeFile, probeArgs, { cwd, env, timeout: 5_000, stdio: 'ignore' })
        probe.on('exit', (code) => resolve(code))
        probe.on('error', () => resolve(null))
      })
      if (status === 0) break
      if (Date.now() - started > HEALTH_TIMEOUT_MS)
        fail(`the HEALTHCHECK did not pass within ${HEALTH_TIMEOUT_MS / 1000} s (${attempts} attempts)`)
      await sleep(500)
    }
    checked.push(`HEALTHCHECK passed after ${((Date.now() - started) / 1000).toFixed(1)} s (${attempts} attempts)`)

    const base = `http://127.0.0.1:${port}`
    const health = await fetch(`${base}/healthz`)
    const healthBody = await health.text()
    if (health.status !== 200 || healthBody !== '{"status":"ok"}')
      fail(`GET /healthz answered ${health.status} ${healthBody}`)
    const jwksResponse = await fetch(`${base}/.well-known/jwks.json`)
    const jwks = (await jwksResponse.json().catch(() => null)) as { keys?: Record<string, unknown>[] } | null
    if (jwksResponse.status !== 200 || !Array.isArray(jwks?.keys) || jwks.keys.length === 0)
      fail(`GET /.well-known/jwks.json answered ${jwksResponse.status} without keys: ${JSON.stringify(jwks)}`)
    const keys = jwks?.keys ?? []
    for (const key of keys) {
      if (typeof key.kid !== 'string' || typeof key.kty !== 'string')
        fail(`a JWKS key lacks kid or kty: ${JSON.stringify(key)}`)
      const leaked = PRIVATE_MEMBERS.filter((member) => member in key)
      if (leaked.length > 0) fail(`the JWKS publishes private members ${leaked.join(', ')} (kid ${String(key.kid)})`)
    }
    checked.push(
      `GET /healthz {"status":"ok"}; the JWKS has ${keys.length} public key(s): ${keys.map((k) => String(k.alg ?? k.kty)).join(', ')}`,
    )

    const stopAt = Date.now()
    server.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const result = await Promise.race([
      exited,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS))),
    ])
    clearTimeout(timer)
    if (!result) fail(`the server did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM`)
    if (result?.code !== 0) fail(`the server exited with ${result?.code ?? result?.signal} after SIGTERM, not 0`)
    checked.push(`SIGTERM -> exit 0 after ${((Date.now() - stopAt) / 1000).toFixed(1)} s`)
    return checked
  } finally {
    if (!state.exit) server.kill('SIGKILL')
  }
}
