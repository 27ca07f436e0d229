/**
 * Files only the gateway's user may read: secrets, payer keys, buyer tokens,
 * the outbox, the MQTT password file (docs/architecture.md §6-§8). One place for the
 * modes (0600 files, 0700 folders), the "readable by group/others" test and
 * the crash-safe write (a 0600 temp file, fsynced, renamed into place, the
 * folder fsynced after).
 *
 * These helpers throw the plain `fs` errors; each caller wraps them in its
 * own area's coded error, with its own wording.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;
/** Permission bits that give group or others any access. */
const GROUP_OTHER_BITS = 0o077;

/** The rwx bits of a `stat` mode (no file type, no setuid/sticky). */
export function permissionBits(mode: number): number {
  return mode & 0o777;
}

/** True when group or others have any access under `mode`. */
export function isExposed(mode: number): boolean {
  return (mode & GROUP_OTHER_BITS) !== 0;
}

/**
 * When `mode` (from a stat of `target`) is exposed, chmod `target` (a path,
 * or an open file descriptor) to `privateMode`. Returns the permission bits
 * it had, or null when it was private already (nothing done).
 */
export function repairExposed(target: string | number, mode: number, privateMode: number = PRIVATE_FILE_MODE): number | null {
  if (!isExposed(mode)) return null;
  if (typeof target === 'number') fs.fchmodSync(target, privateMode);
  else fs.chmodSync(target, privateMode);
  return permissionBits(mode);
}

/** `mkdir -p dir` with mode 0700 for the folders it creates (an existing one is left as it is). */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * `mkdir -p dir` (0700), and an existing `dir` that group or others may
 * enter set to 0700. Returns the permission bits it had when it was
 * tightened (the caller warns), else null.
 */
export function ensureTightDir(dir: string): number | null {
  ensurePrivateDir(dir);
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) return null;
  return repairExposed(dir, st.mode, PRIVATE_DIR_MODE);
}

/** Create `file` (0600) when missing and set an existing one to 0600; its content is left as it is. */
export function touchPrivateFile(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', PRIVATE_FILE_MODE));
  fs.chmodSync(file, PRIVATE_FILE_MODE);
}

/** Make a rename or link durable: fsync the folder (best effort where folders cannot be opened or synced). */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms/file systems cannot fsync a folder; the rename/link is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** A fresh temp file name next to `file`: `.<name>.<pid>.<random>.tmp`. */
export function privateTempPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Create `tmp` exclusively (O_EXCL) with mode 0600 (whatever the umask),
 * write `data` and fsync it. On failure `tmp` is removed and the error thrown.
 */
export function writePrivateTemp(tmp: string, data: string | Uint8Array): void {
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, PRIVATE_FILE_MODE);
  try {
    fs.fchmodSync(fd, PRIVATE_FILE_MODE);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
}

/**
 * Replace `file` with `data` so that a crash leaves either the old or the
 * new content: a 0600 temp file (fsynced) renamed over it, the folder fsynced
 * after. No temp file is left behind on failure.
 */
export function writePrivateFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = privateTempPath(file);
  writePrivateTemp(tmp, data);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(path.dirname(file));
}
