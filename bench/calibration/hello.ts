// Calibration (a): Fastify's hello-world JSON, what this machine allows for the cheapest possible
// answer. The JWKS and the revocation feed's 304 are measured against it. See bench/README.md.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/', async () => ({ hello: 'world' }))
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
console.log('ready')
