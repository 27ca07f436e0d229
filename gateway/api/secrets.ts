/**
 * `dataDir/secrets.json`: the admin API token and the Node-RED editor
 * password, generated at first start (DESIGN.md §8).
 *
 * - dataDir is created (mkdir -p) with mode 0700 when missing.
 * - The file is written atomically: a temp file (0600, fsynced) is hard-linked
 *   into place, which fails if another process won the race (then we read
 *   theirs), so two starting processes never end up with different tokens.
 * - An existing file readable by group/others is repaired to 0600 with a
 *   warning; a malformed file is an error (never silently rotate the token).
 * - A file missing one key (older version) gets that key added, rewritten atomically.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../base/log';
import { PRIVATE_FILE_MODE, ensurePrivateDir, privateTempPath, repairExposed, syncDir, writePrivateTemp } from '../base/private-files';
import { SecretsError } from './errors';

export const SECRETS_FILE = 'secrets.json';

export interface Secrets {
  adminToken: string;
  editorPassword: string;
}

export interface LoadedSecrets extends Secrets {
  /** True when this call generated the file (the caller prints the secrets once). */
  created: boolean;
}

/** 32 random bytes, base64url: 43 characters. */
export function newAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/** 24 random bytes, base64url: 32 characters. */
export function newEditorPassword(): string {
  return randomBytes(24).toString('base64url');
}

export function secretsPath(dataDir: string): string {
  return path.join(dataDir, SECRETS_FILE);
}

type Warn = Pick<Logger, 'warn'>;

/** Read `dataDir/secrets.json`, creating it (and dataDir) when missing. */
export function loadOrCreateSecrets(dataDir: string, logger?: Warn): LoadedSecrets {
  ensurePrivateDir(dataDir);
  const file = secretsPath(dataDir);
  const existing = readExisting(file, logger);
  if (existing === null) {
    const fresh: Secrets = { adminToken: newAdminToken(), editorPassword: newEditorPassword() };
    if (writeAtomic(file, fresh, false)) return { ...fresh, created: true };
    // Another process created it between our read and our link: use theirs.
    const theirs = readExisting(file, logger);
    if (theirs === null) throw new SecretsError(`${file} vanished while it was being created`);
    return complete(file, theirs, logger);
  }
  return complete(file, existing, logger);
}

/** Fill keys missing from an older file and rewrite it; otherwise return it as is. */
function complete(file: string, partial: Partial<Secrets>, logger?: Warn): LoadedSecrets {
  if (partial.adminToken !== undefined && partial.editorPassword !== undefined) {
    return { adminToken: partial.adminToken, editorPassword: partial.editorPassword, created: false };
  }
  const full: Secrets = {
    adminToken: partial.adminToken ?? newAdminToken(),
    editorPassword: partial.editorPassword ?? newEditorPassword(),
  };
  logger?.warn({ file }, 'secrets file lacked a key; generated it and rewrote the file');
  writeAtomic(file, full, true);
  return { ...full, created: false };
}

function readExisting(file: string, logger?: Warn): Partial<Secrets> | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SecretsError(`cannot open ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new SecretsError(`${file} is not a regular file`);
    const was = repairExposed(fd, st.mode);
    if (was !== null) {
      logger?.warn(
        { file, mode: was.toString(8) },
        'secrets file was readable by other users; changed its mode to 0600 (consider rotating the admin token)',
      );
    }
    const text = fs.readFileSync(fd, 'utf8');
    return parseSecrets(file, text);
  } finally {
    fs.closeSync(fd);
  }
}

function parseSecrets(file: string, text: string): Partial<Secrets> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SecretsError(`${file} is not valid JSON (fix or delete it to generate new secrets)`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new SecretsError(`${file} must hold a JSON object with adminToken and editorPassword`);
  }
  const out: Partial<Secrets> = {};
  for (const key of ['adminToken', 'editorPassword'] as const) {
    const v = (doc as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length < 16) {
      throw new SecretsError(`${file}: ${key} must be a string of at least 16 characters`);
    }
    out[key] = v;
  }
  return out;
}

/**
 * Write the secrets to a 0600 temp file, fsync, then put it in place:
 * `replace` false links it (fails when the file exists: returns false),
 * `replace` true renames over. The directory is fsynced after.
 */
function writeAtomic(file: string, secrets: Secrets, replace: boolean): boolean {
  const tmp = privateTempPath(file);
  try {
    writePrivateTemp(tmp, `${JSON.stringify(secrets, null, 2)}\n`);
  } catch (e) {
    throw new SecretsError(`cannot write ${tmp}: ${(e as Error).message}`, { cause: e });
  }
  let placed = true;
  try {
    if (replace) {
      fs.renameSync(tmp, file);
    } else {
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') placed = false;
        else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
          // File systems without hard links: exclusive create is the best we have.
          placed = copyExclusive(tmp, file);
        } else throw e;
      }
      fs.rmSync(tmp, { force: true });
    }
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new SecretsError(`cannot create ${file}: ${(e as Error).message}`, { cause: e });
  }
  syncDir(path.dirname(file));
  return placed;
}

function copyExclusive(from: string, to: string): boolean {
  try {
    fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
    fs.chmodSync(to, PRIVATE_FILE_MODE);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}
