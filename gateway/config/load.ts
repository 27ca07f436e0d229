/**
 * Loading `m2m-gateway.yaml`: read, parse YAML, migrate to the current
 * version, validate and resolve. Any problem throws one ConfigError listing
 * every issue by path, with the YAML line where it could be located.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineCounter, isNode, parseDocument, visit, type Document } from 'yaml';
import { ConfigError, type ConfigIssue } from './errors';
import { formatPath, type RawIssue } from './issues';
import { migrateConfig } from './migrate';
import { resolveConfig } from './resolve';
import type { LoadedConfig } from './schema';

export type { LoadedConfig, LoadedDevice, DevicePoint, LinkConfig } from './schema';

export const DEFAULT_CONFIG_FILE = 'm2m-gateway.yaml';

const INTEGER_SOURCE = /^[-+]?\d+$/;
const DECIMAL_SOURCE = /^[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$/;

/**
 * YAML reads `scale: 0.1` as a float. Decimals must never pass through
 * floats, so non-integer numbers keep their source text ("0.1"); fields that
 * want a decimal accept it, integer fields reject it.
 */
function keepDecimalSources(doc: Document): void {
  visit(doc, {
    Scalar(_key, node) {
      const src = node.source;
      if (typeof node.value === 'number' && src !== undefined && DECIMAL_SOURCE.test(src) && !INTEGER_SOURCE.test(src)) {
        node.value = src;
      }
    },
  });
}

function locate(doc: Document, lines: LineCounter, at: RawIssue['at']): { line: number; column: number } | undefined {
  for (let n = at.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(at.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return undefined;
}

/** Parse config text. `baseDir` anchors relative paths; `file` is only used in messages and `configFile`. */
export function parseConfig(text: string, baseDir: string, file?: string): LoadedConfig {
  const lines = new LineCounter();
  // resolveKnownTags: false — YAML 1.1 tags (!!set, !!omap, !!binary, !!timestamp…) would turn values into
  // Set/Map/Uint8Array/Date, which the schema cannot see into; unresolved, they are validated as the plain value.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    resolveKnownTags: false,
    logLevel: 'error',
  });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const reason = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return { path: '', message: `YAML syntax error: ${reason}`, line: pos.line, column: pos.col };
      }),
      file,
    );
  }
  keepDecimalSources(doc);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // yaml throws (ReferenceError) for alias bombs and aliases it cannot resolve (e.g. in a `<<` merge key).
    throw new ConfigError([{ path: '', message: `YAML error: ${(e as Error).message.split('\n')[0]}` }], file);
  }
  let migrated;
  try {
    migrated = migrateConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.issues, file);
    throw e;
  }
  const { config, issues } = resolveConfig(migrated.config, path.resolve(baseDir), file ? path.resolve(file) : '');
  if (config && issues.length === 0) return config;

  const seen = new Set<string>();
  const located: ConfigIssue[] = [];
  for (const issue of issues) {
    const p = formatPath(issue.at);
    const key = `${p}\0${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // Lines are only meaningful when the structure was not migrated.
    const pos = migrated.applied.length === 0 ? locate(doc, lines, issue.at) : undefined;
    located.push({ path: p, message: issue.message, ...(pos ? { line: pos.line, column: pos.column } : {}) });
  }
  located.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0));
  throw new ConfigError(located, file);
}

/** Load and validate a config file. Relative paths inside it are relative to its folder. */
export function loadConfig(file: string): LoadedConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file (write one with `m2m-gateway init`)' : err.message;
    throw new ConfigError([{ path: '', message: `cannot read ${abs}: ${why}` }], abs);
  }
  return parseConfig(text, path.dirname(abs), abs);
}
