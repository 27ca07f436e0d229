/**
 * Config versions. Each bump of CURRENT_VERSION adds one migration here,
 * keyed by the version it migrates *from* (n -> n+1); loading applies them in
 * order, in memory (the user's commented YAML is never rewritten behind their
 * back; `config check` tells them the file is old).
 *
 * Version 1 is the first and current version, so the map is empty.
 */
import { ConfigError } from './errors';
import { CURRENT_VERSION } from './schema';

export type ConfigObject = Record<string, unknown>;
/** Migrates a config object of version n to version n+1 (without touching `version`). */
export type ConfigMigration = (config: ConfigObject) => ConfigObject;

export const MIGRATIONS: Readonly<Record<number, ConfigMigration>> = {
  // 1: (c) => ({ ...c, renamedKey: c.oldKey }),   // example for the 1 -> 2 bump
};

export interface MigrationResult {
  config: ConfigObject;
  /** Version the file was written in. */
  from: number;
  /** Versions migrated from, in order (empty when the file is current). */
  applied: number[];
}

/** Bring a parsed config object up to CURRENT_VERSION. Throws ConfigError for a missing, bad or future version. */
export function migrateConfig(
  raw: unknown,
  migrations: Readonly<Record<number, ConfigMigration>> = MIGRATIONS,
  target: number = CURRENT_VERSION,
): MigrationResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'expected a mapping at the top of the file (version, gateway, links, devices …)' }]);
  }
  const version = (raw as ConfigObject).version;
  if (version === undefined) {
    throw new ConfigError([{ path: 'version', message: `required: the config format version (current: ${target})` }]);
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new ConfigError([{ path: 'version', message: `expected a positive integer (current: ${target})` }]);
  }
  if (version > target) {
    throw new ConfigError([
      { path: 'version', message: `version ${version} is newer than this gateway understands (${target}); upgrade m2m-gateway` },
    ]);
  }
  let config: ConfigObject = { ...(raw as ConfigObject) };
  const applied: number[] = [];
  for (let v = version; v < target; v++) {
    const step = migrations[v];
    if (!step) throw new ConfigError([{ path: 'version', message: `no migration from version ${v} to ${v + 1}` }]);
    config = { ...step(config), version: v + 1 };
    applied.push(v);
  }
  return { config, from: version, applied };
}
