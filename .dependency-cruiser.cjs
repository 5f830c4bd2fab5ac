// Which folder may import which (README: "How the code is laid out"). server/'s capability
// folders form one order, highest first: a folder imports only folders below it, so no two folders
// can ever import each other, directly or through a third.
const order = [
  'cli',
  // The OpenAPI document and its page: built from the routes, imported by app.ts only.
  'openapi',
  'admin',
  'account',
  'discovery',
  'health',
  'tokens',
  'authorize',
  'mfa',
  'consents',
  'passkeys',
  'sessions',
  'users',
  'mail',
  'http',
  'pages',
  'clients',
  'audit',
  'db',
  // Prometheus instruments only (prom-client): every folder may count, none is imported here.
  'metrics',
]
const layerRules = order.slice(1).map((folder, i) => ({
  name: `${folder}-imports-only-lower-folders`,
  comment: `server/${folder}/ may import only: ${order.slice(i + 2).join(', ') || 'no other folder'}.`,
  severity: 'error',
  from: { path: `^server/${folder}/` },
  // db/database.ts gathers every table type (import type), as kysely's example app does.
  to: {
    path: `^server/(${order.slice(0, i + 1).join('|')})/`,
    ...(folder === 'db' ? { dependencyTypesNot: ['type-only'] } : {}),
  },
}))

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'No module imports itself through others, type imports included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'entry-points-on-top',
      comment: 'main.ts, app.ts and maintenance.ts wire the folders together; nothing below imports them.',
      severity: 'error',
      from: { path: '^server/[^/]+/', pathNot: '^server/cli/' },
      to: { path: '^server/(main|app|maintenance)\\.ts$' },
    },
    {
      name: 'foundations-stay-below',
      comment:
        'config, errors, clock, logger, deps and opaque-token sit under every folder; deps.ts names their types only.',
      severity: 'error',
      from: { path: '^server/(config|errors|clock|logger|deps|opaque-token|url-rules)\\.ts$' },
      to: { path: '^server/([^/]+/|(main|app|maintenance)\\.ts$)', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'keys-stand-alone',
      comment: 'keys/ manages signing keys for the server but never imports it.',
      severity: 'error',
      from: { path: '^keys/' },
      to: { path: '^server/' },
    },
    {
      name: 'libraries-stand-alone',
      comment: 'The verifier and the browser client are published on their own: nothing from server/ or keys/.',
      severity: 'error',
      from: { path: '^(verifier|client)/' },
      to: { path: '^(server|keys|migrations)/' },
    },
    {
      name: 'migrations-frozen',
      comment: 'Migrations are frozen in time: they import kysely and nothing of ours.',
      severity: 'error',
      from: { path: '^migrations/' },
      to: { pathNot: '^(node_modules/kysely/|migrations/)', dependencyTypesNot: ['core'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['latchkey-source', 'import', 'require', 'node', 'default'],
    },
  },
}
