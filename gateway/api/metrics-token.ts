/**
 * The read-only metrics token: `m2m-gateway token --metrics` creates it in
 * `<dataDir>/metrics-token` (0600) on first call and prints it; a scraper
 * holding it can read `/metrics` and nothing else (no write, no stream). The
 * running daemon picks a new token up without a restart (the file is looked
 * at again when its inode, size or mtime change).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensurePrivateDir, writePrivateFileAtomic } from '../base/private-files';
import { staticTokenResolver, type Principal, type TokenResolver } from './auth';
import { SecretsError } from './errors';

export const METRICS_TOKEN_FILE = 'metrics-token';

const TOKEN_RE = /^[A-Za-z0-9_-]{32,128}$/;

function tokenPath(dataDir: string): string {
  return path.join(dataDir, METRICS_TOKEN_FILE);
}

function readToken(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SecretsError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!TOKEN_RE.test(text)) throw new SecretsError(`${file} does not hold a token (32-128 base64url characters)`);
  return text;
}

/** The metrics token, created on first call. */
export function ensureMetricsToken(dataDir: string): { token: string; created: boolean } {
  ensurePrivateDir(dataDir);
  const file = tokenPath(dataDir);
  const known = readToken(file);
  if (known) return { token: known, created: false };
  const token = randomBytes(32).toString('base64url');
  try {
    writePrivateFileAtomic(file, `${token}\n`);
  } catch (e) {
    throw new SecretsError(`cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
  return { token, created: true };
}

/** Resolves the metrics token to `{kind: 'metrics'}`; an unreadable file keeps the last good token. */
export function metricsTokenResolver(dataDir: string): TokenResolver {
  const file = tokenPath(dataDir);
  let stamp = '';
  let inner: TokenResolver = staticTokenResolver([]);
  const refresh = (): void => {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      if (stamp !== 'none') inner = staticTokenResolver([]);
      stamp = 'none';
      return;
    }
    const now = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (now === stamp) return;
    try {
      const token = readToken(file);
      inner = staticTokenResolver(token ? [{ token, principal: { kind: 'metrics' } }] : []);
      stamp = now;
    } catch {
      // keep the previous token; `token --metrics` rewrites a damaged file
    }
  };
  return {
    resolve(token: string): Principal | null {
      refresh();
      return inner.resolve(token) as Principal | null;
    },
  };
}
