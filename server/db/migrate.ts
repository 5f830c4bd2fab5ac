import fs from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'
import { Migrator, type Migration, type MigrationProvider } from 'kysely'
import type { Db } from './database.js'

// migrations/ sits two levels up both in the sources (server/db/) and in the build (dist/server/db/).
const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url))

const migrationFiles: MigrationProvider = {
  async getMigrations() {
    const names = (await fs.readdir(migrationsDir))
      .filter((name) => /\.(js|ts)$/.test(name) && !name.endsWith('.d.ts'))
      .sort()
    const migrations: Record<string, Migration> = {}
    for (const name of names) {
      migrations[name.replace(/\.(js|ts)$/, '')] = (await import(
        pathToFileURL(path.join(migrationsDir, name)).href
      )) as Migration
    }
    return migrations
  },
}

/** Applies every pending migration; returns the names applied. Safe to run from several instances at once. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const { error, results } = await new Migrator({ db, provider: migrationFiles }).migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    throw new Error(
      `database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
    )
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
