import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { buildTestApp } from '../helpers/build-test-app.js'
import { runMaintenance } from '../../server/maintenance.js'

// promtool is not available here: the rule file, the scrape job and the dashboard are parsed, and
// every metric they name is checked against what a real Latchkey exports.

const root = path.resolve(import.meta.dirname, '../..')
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8')

interface Rule {
  alert?: string
  expr?: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

/** The metric names an expression uses (a histogram's _bucket/_count/_sum series name its family). */
function metricNames(expr: string): string[] {
  const names = expr.match(/\b(?:latchkey|nodejs|process)_[a-z0-9_]+\b/g) ?? []
  return names.map((n) => n.replace(/_(bucket|count|sum)$/, ''))
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  )
}

t.test('every metric the alerts and the dashboard name is one Latchkey exports', async (t) => {
  const testApp = await buildTestApp(t)
  await runMaintenance(testApp.deps)
  await testApp.app.inject('/oauth/revocations')
  const exported = new Set(
    parsePrometheusTextFormat((await testApp.app.inject('/metrics')).body).map((f) =>
      f.name.replace(/_(bucket|count|sum)$/, ''),
    ),
  )
  // Exported only on PostgreSQL (the SQLite connection has no pool).
  exported.add('latchkey_db_pool_connections')

  const rules = (parse(read('deploy/prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
    (g) => g.rules,
  )
  const dashboard = JSON.parse(read('deploy/grafana/latchkey.json')) as {
    panels: { title: string; targets: { expr: string }[] }[]
  }
  const expressions = [
    ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr ?? '' })),
    ...dashboard.panels.flatMap((p) => p.targets.map((target) => ({ where: `panel ${p.title}`, expr: target.expr }))),
  ]
  const unknown = expressions.flatMap(({ where, expr }) =>
    metricNames(expr)
      .filter((name) => !exported.has(name))
      .map((name) => `${where}: ${name}`),
  )
  t.same(unknown, [], 'no expression names a metric that does not exist')
  t.ok(
    expressions.every(({ expr }) => metricNames(expr).length > 0),
    'every expression names a metric',
  )
})

t.test('the alert rules are a well-formed rule file with a runbook section for each', async (t) => {
  const file = parse(read('deploy/prometheus/alerts.yml')) as { groups: { name: string; rules: Rule[] }[] }
  const rules = file.groups.flatMap((g) => g.rules)
  t.same(
    rules.map((r) => r.alert),
    [
      'LatchkeyKeyRotationOverdue',
      'LatchkeyOutboxBacklog',
      'LatchkeyMailDeliveryFailing',
      'LatchkeyRevocationFeedStale',
      'LatchkeyHashingQueueSaturated',
      'LatchkeyHighErrorRate',
      'LatchkeyMaintenanceStalled',
    ],
  )
  const anchors = anchorsOf(read('docs/operations.md'))
  for (const rule of rules) {
    t.match(rule, {
      expr: String,
      for: /^\d+[smh]$/,
      labels: { severity: /^(warning|critical)$/ },
      annotations: { summary: String, description: String, runbook_url: /^docs\/operations\.md#runbook-/ },
    })
    const anchor = rule.annotations!.runbook_url!.split('#')[1]!
    t.ok(anchors.has(anchor), `${rule.alert}: docs/operations.md has #${anchor}`)
    // Balanced brackets: the cheapest sign of an expression cut by a bad edit.
    for (const [open, close] of ['()', '[]', '{}']) {
      t.equal(rule.expr!.split(open!).length, rule.expr!.split(close!).length, `${rule.alert}: ${open}${close}`)
    }
  }
})

t.test('the scrape job scrapes /metrics with the bearer token from a file', async (t) => {
  const scrape = parse(read('deploy/prometheus/scrape.yml')) as { scrape_configs: Record<string, unknown>[] }
  t.match(scrape.scrape_configs, [
    {
      job_name: 'latchkey',
      metrics_path: '/metrics',
      authorization: { type: 'Bearer', credentials_file: String },
      static_configs: [{ targets: Array }],
    },
  ])
})

t.test('the dashboard is importable: unique panel ids, a Prometheus data source variable', async (t) => {
  const dashboard = JSON.parse(read('deploy/grafana/latchkey.json')) as {
    uid: string
    panels: { id: number; datasource: { uid: string } }[]
    templating: { list: { name: string; type: string }[] }
  }
  t.equal(dashboard.uid, 'latchkey')
  const ids = dashboard.panels.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length)
  t.ok(dashboard.panels.every((p) => p.datasource.uid === '${datasource}'))
  t.match(dashboard.templating.list, [{ name: 'datasource', type: 'datasource' }])
})
