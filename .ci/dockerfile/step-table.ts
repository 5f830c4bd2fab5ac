import type { Instruction } from './parse-dockerfile.js'

/** How the check carries out one Dockerfile instruction. "As written" actions read the instruction itself. */
export type Action =
  /** FROM: a fresh directory stands in for the stage's filesystem root; the host's Node for the image's. */
  | { kind: 'stage'; name: string }
  /** The commands an OS-level install would provide must be on the host. */
  | { kind: 'require-tools'; tools: string[] }
  | { kind: 'workdir-as-written' }
  | { kind: 'env-as-written' }
  /** COPY [--from=stage] src… dest, from the clean `git archive` of HEAD or an earlier stage. */
  | { kind: 'copy-as-written' }
  /** RUN in the shell form, with /bin/sh -c in the stage's WORKDIR. */
  | { kind: 'run-as-written' }
  /** `ln -s target link`, both paths inside the stage. */
  | { kind: 'symlink'; target: string; link: string }
  /** An empty directory owned by the runtime user, standing in for a new volume. */
  | { kind: 'data-dir'; dir: string }
  /** The exec-form HEALTHCHECK CMD: run until it passes once the server is started. */
  | { kind: 'healthcheck-as-written' }
  /** The exec-form CMD: started as the runtime user when the stages are built. */
  | { kind: 'cmd-as-written' }

export interface Step {
  /** The instruction exactly as `parseDockerfile` renders it (`text`): any change to the Dockerfile breaks the match. */
  instruction: string
  /** How it is performed, or why it is not. */
  how: string
  actions: Action[]
}

/** Every instruction of the Dockerfile, in order. An instruction missing here fails the check. */
export const STEPS: Step[] = [
  {
    instruction: 'FROM node:22-bookworm-slim AS build',
    how: "a fresh directory is the stage's root; the host's Node stands in for node:22",
    actions: [{ kind: 'stage', name: 'build' }],
  },
  {
    instruction:
      'RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*',
    how: 'changes the OS, not the project: skipped, but the tools it installs must be on the host',
    actions: [{ kind: 'require-tools', tools: ['python3', 'make', 'g++'] }],
  },
  { instruction: 'WORKDIR /app', how: 'as written', actions: [{ kind: 'workdir-as-written' }] },
  {
    instruction: 'COPY package.json package-lock.json ./',
    how: 'as written, from the git archive of HEAD',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'COPY verifier/package.json ./verifier/',
    how: 'as written, from the git archive of HEAD',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'COPY scripts/ ./scripts/',
    how: 'as written, from the git archive of HEAD',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'RUN npm ci',
    how: 'as written (its postinstall compiles argon2 and better-sqlite3 from source when their binaries do not load)',
    actions: [{ kind: 'run-as-written' }],
  },
  {
    instruction: 'COPY tsconfig.json tsconfig.build.json ./',
    how: 'as written, from the git archive of HEAD',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'COPY server/ ./server/',
    how: 'as written, from the git archive of HEAD',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'COPY keys/ ./keys/',
    how: 'as written, from the git archive of HEAD',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'COPY migrations/ ./migrations/',
    how: 'as written, from the git archive of HEAD',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'RUN npm run build && chmod +x dist/server/cli/main.js',
    how: 'as written',
    actions: [{ kind: 'run-as-written' }],
  },
  {
    instruction: 'RUN npm prune --omit=dev && rm node_modules/@latchkey/verifier',
    how: 'as written; afterwards no dev-only package of the lockfile may reach the runtime stage',
    actions: [{ kind: 'run-as-written' }],
  },
  {
    instruction: 'FROM node:22-bookworm-slim',
    how: "a fresh directory is the stage's root; the host's Node stands in for node:22",
    actions: [{ kind: 'stage', name: 'runtime' }],
  },
  {
    instruction: 'ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 LATCHKEY_DATA_DIR=/data',
    how: 'as written, except that the server listens on 127.0.0.1 and a free port, with /data mapped into the stage',
    actions: [{ kind: 'env-as-written' }],
  },
  { instruction: 'WORKDIR /app', how: 'as written', actions: [{ kind: 'workdir-as-written' }] },
  {
    instruction: 'COPY --from=build /app/package.json ./',
    how: 'as written, from the build stage',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'COPY --from=build /app/node_modules/ ./node_modules/',
    how: 'as written, from the build stage',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction: 'COPY --from=build /app/dist/ ./dist/',
    how: 'as written, from the build stage',
    actions: [{ kind: 'copy-as-written' }],
  },
  {
    instruction:
      'RUN ln -s /app/dist/server/cli/main.js /usr/local/bin/latchkey && mkdir -p /data && chown node:node /data',
    how: 'inside the stage: the latchkey link on its PATH, and /data owned by the runtime user',
    actions: [
      { kind: 'symlink', target: '/app/dist/server/cli/main.js', link: '/usr/local/bin/latchkey' },
      { kind: 'data-dir', dir: '/data' },
    ],
  },
  {
    instruction: 'USER node',
    how: 'the server and the HEALTHCHECK run as uid 65534 (nobody) when the check runs as root, else as the current user',
    actions: [],
  },
  { instruction: 'VOLUME /data', how: 'the empty /data made above stands in for a new volume', actions: [] },
  {
    instruction: 'EXPOSE 3000',
    how: 'metadata; the server listens on a free loopback port instead (PORT is overridden)',
    actions: [],
  },
  {
    instruction:
      'HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "-e", "fetch(\'http://127.0.0.1:\' + (process.env.PORT || 3000) + \'/healthz\').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]',
    how: 'its command is run as the runtime user every 0.5 s until it passes (the schedule options are not)',
    actions: [{ kind: 'healthcheck-as-written' }],
  },
  {
    instruction: 'CMD ["latchkey", "serve"]',
    how: "started as the runtime user with the stage's PATH; then /healthz, the JWKS, SIGTERM and exit 0",
    actions: [{ kind: 'cmd-as-written' }],
  },
]

/**
 * Problems, one line each, when the instructions and the table differ: an instruction without an
 * entry (new or changed), an entry without an instruction (changed or removed), or the same
 * instructions in another order. No problems means every instruction has exactly its entry.
 */
export function matchSteps(instructions: Instruction[], steps: Step[]): string[] {
  const problems: string[] = []
  const unused = steps.map((s) => s.instruction)
  const unmatched: Instruction[] = []
  for (const ins of instructions) {
    const at = unused.indexOf(ins.text)
    if (at >= 0) unused.splice(at, 1)
    else unmatched.push(ins)
  }
  for (const ins of unmatched)
    problems.push(
      `Dockerfile line ${ins.line}: "${ins.text}" has no entry in the step table: add one saying how the check performs it or why it skips it`,
    )
  for (const text of unused)
    problems.push(`step table entry "${text}" matches no Dockerfile instruction (was it changed or removed?)`)
  if (problems.length > 0) return problems
  instructions.forEach((ins, i) => {
    const expected = steps[i]?.instruction
    if (ins.text !== expected)
      problems.push(
        `Dockerfile line ${ins.line}: "${ins.text}" is out of order: the step table has "${expected}" there`,
      )
  })
  return problems
}
