import { pino, type Logger } from 'pino'
import type { LogLevel } from './config.js'

// Anything that could carry a credential is censored wherever it appears in a log object.
const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.client_secret',
  '*.code',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.mfa_token',
  '*.recovery_codes',
  '*.otpauth_uri',
  '*.secret',
]

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { service: 'latchkey' } },
    destination,
  )
}
