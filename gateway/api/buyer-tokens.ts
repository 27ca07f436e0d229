/**
 * `<dataDir>/buyers.json` (mode 0600): one API token per buyer account of the
 * data marketplace (docs/architecture.md §7).
 *
 *   {"version":1,"buyers":{"lab-1":{"token":"…","createdAt":"2026-11-25T12:00:00.000Z","payerKey":"<base64url>"}}}
 *
 * `m2m-gateway token --buyer <account>` creates a buyer's token on first call
 * and prints the same one afterwards (`ensureBuyerToken`); `--revoke` removes
 * it (`revokeBuyerToken`); `--payer-key <key>` registers the buyer's public
 * key ahead of its first voucher (`pinBuyerKey`, optional `payerKey`: the
 * seller then refuses a voucher signed by another key even as the first one;
 * without it the first accepted voucher pins the key, market/buyer-payments.ts). The running daemon sees new tokens without a
 * restart: `buyerTokenResolver` re-reads the file when its size, mtime or
 * inode changed, and `watchBuyers` tells it the moment the file is replaced
 * so open streams of a revoked buyer are closed at once (docs/marketplace.md). A token resolves to a buyer
 * principal whose points are asked from the active policies at that moment
 * (the offers naming the account as a buyer).
 *
 * Writers take `buyers.json.lock` (O_EXCL) around read-modify-rename, so two
 * CLI calls adding different buyers do not lose one of them.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BuyerGrant, Principal, TokenResolver } from './auth';
import { staticTokenResolver } from './auth';
import { SecretsError } from './errors';
import type { Logger } from '../base/log';
import { PRIVATE_FILE_MODE, ensurePrivateDir, repairExposed, writePrivateFileAtomic } from '../base/private-files';

export const BUYERS_FILE = 'buyers.json';
/** Payee tokens (`token --payee ID`): same format, key "payees"; a payee reads its own channels' vouchers. */
export const PAYEES_FILE = 'payees.json';

/** Whose tokens a file holds. */
export type TokenParty = 'buyer' | 'payee';
const FILE_OF: Record<TokenParty, string> = { buyer: BUYERS_FILE, payee: PAYEES_FILE };
const KEY_OF: Record<TokenParty, string> = { buyer: 'buyers', payee: 'payees' };

/** Account ids as everywhere else (config and policy nodes). */
const ACCOUNT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LOCK_WAIT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

export interface BuyerRecord {
  token: string;
  createdAt: string;
  /** The buyer's registered public key (base64url raw ed25519), when pinned ahead of its first voucher. */
  payerKey?: string;
}

/** A base64url raw ed25519 public key as vouchers carry it. */
const PAYER_KEY_RE = /^[A-Za-z0-9_-]{43}$/;

export function buyersPath(dataDir: string, party: TokenParty = 'buyer'): string {
  return path.join(dataDir, FILE_OF[party]);
}

export function isBuyerAccount(account: string): boolean {
  return ACCOUNT_RE.test(account);
}

/** Every buyer of `<dataDir>/buyers.json` (empty when there is no file). */
export function readBuyers(dataDir: string, logger?: Pick<Logger, 'warn'>, party: TokenParty = 'buyer'): Map<string, BuyerRecord> {
  const file = buyersPath(dataDir, party);
  let text: string;
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile()) throw new SecretsError(`${file} is not a regular file`);
    const was = repairExposed(file, st.mode);
    if (was !== null) {
      logger?.warn({ file, mode: was.toString(8) }, 'buyers file was readable by other users; changed its mode to 0600');
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    if (e instanceof SecretsError) throw e;
    throw new SecretsError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseBuyers(file, text, KEY_OF[party]);
}

function parseBuyers(file: string, text: string, key = 'buyers'): Map<string, BuyerRecord> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SecretsError(`${file} is not valid JSON`, { cause: e });
  }
  const buyers = (doc as Record<string, unknown> | null)?.[key];
  if (typeof buyers !== 'object' || buyers === null || Array.isArray(buyers)) {
    throw new SecretsError(`${file} must hold {"version":1,"${key}":{"<account>":{"token":"…"}}}`);
  }
  const out = new Map<string, BuyerRecord>();
  for (const [account, rec] of Object.entries(buyers as Record<string, unknown>)) {
    const token = (rec as { token?: unknown } | null)?.token;
    if (!isBuyerAccount(account)) throw new SecretsError(`${file}: "${account}" is not a valid account id`);
    if (typeof token !== 'string' || token.length < 16)
      throw new SecretsError(`${file}: ${key}.${account}.token must be a string of at least 16 characters`);
    const createdAt = (rec as { createdAt?: unknown }).createdAt;
    const payerKey = (rec as { payerKey?: unknown }).payerKey;
    if (payerKey !== undefined && (typeof payerKey !== 'string' || !PAYER_KEY_RE.test(payerKey)))
      throw new SecretsError(`${file}: ${key}.${account}.payerKey must be a base64url raw ed25519 public key (43 characters)`);
    out.set(account, { token, createdAt: typeof createdAt === 'string' ? createdAt : '', ...(payerKey ? { payerKey } : {}) });
  }
  return out;
}

/** The token of `account`, created (and the file with it) on first call. */
export function ensureBuyerToken(
  dataDir: string,
  account: string,
  now: Date = new Date(),
  party: TokenParty = 'buyer',
): { token: string; created: boolean } {
  if (!isBuyerAccount(account)) {
    throw new SecretsError(
      `"${account}" is not a valid account id (1-64 letters, digits, "_", "." or "-", starting with a letter or digit)`,
    );
  }
  ensurePrivateDir(dataDir);
  return withLock(dataDir, () => {
    const buyers = readBuyers(dataDir, undefined, party);
    const known = buyers.get(account);
    if (known) return { token: known.token, created: false };
    const token = randomBytes(32).toString('base64url');
    buyers.set(account, { token, createdAt: now.toISOString() });
    writeBuyers(dataDir, buyers, party);
    return { token, created: true };
  });
}

/**
 * Register `payerKey` as `account`'s key (its token created when it has none):
 * the seller refuses its vouchers signed by any other key, the first one too.
 * `previous` is the key registered before, if another.
 */
export function pinBuyerKey(
  dataDir: string,
  account: string,
  payerKey: string,
  now: Date = new Date(),
): { token: string; created: boolean; previous?: string } {
  if (!PAYER_KEY_RE.test(payerKey)) throw new SecretsError('the payer key must be a base64url raw ed25519 public key (43 characters)');
  const { created } = ensureBuyerToken(dataDir, account, now);
  return withLock(dataDir, () => {
    const buyers = readBuyers(dataDir);
    const rec = buyers.get(account)!;
    const previous = rec.payerKey;
    if (previous !== payerKey) {
      buyers.set(account, { ...rec, payerKey });
      writeBuyers(dataDir, buyers, 'buyer');
    }
    return { token: rec.token, created, ...(previous !== undefined && previous !== payerKey ? { previous } : {}) };
  });
}

/** Remove `account`'s token; false when it had none. Its open streams close when the daemon sees the file change. */
export function revokeBuyerToken(dataDir: string, account: string): boolean {
  if (!isBuyerAccount(account)) throw new SecretsError(`"${account}" is not a valid account id`);
  if (!fs.existsSync(buyersPath(dataDir))) return false;
  return withLock(dataDir, () => {
    const buyers = readBuyers(dataDir);
    if (!buyers.delete(account)) return false;
    writeBuyers(dataDir, buyers, 'buyer');
    return true;
  });
}

/**
 * Call `onChange` (debounced, at most every `debounceMs`) whenever
 * buyers.json is created, replaced or removed. Returns the function that
 * stops watching. A folder that cannot be watched is logged, not fatal:
 * tokens are still re-read on every authentication.
 */
export function watchBuyers(dataDir: string, onChange: () => void, logger?: Pick<Logger, 'warn'>, debounceMs = 50): () => void {
  let timer: NodeJS.Timeout | null = null;
  let watcher: fs.FSWatcher;
  try {
    watcher = fs.watch(dataDir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== BUYERS_FILE) return;
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
      timer.unref();
    });
  } catch (err) {
    logger?.warn(
      { err: (err as Error).message, dataDir },
      'cannot watch the data folder; a revoked buyer is disconnected at its next check only',
    );
    return () => undefined;
  }
  watcher.on('error', (err) => logger?.warn({ err: err.message }, 'watching buyers.json failed'));
  return () => {
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}

function writeBuyers(dataDir: string, buyers: Map<string, BuyerRecord>, party: TokenParty): void {
  const file = buyersPath(dataDir, party);
  const doc = { version: 1, [KEY_OF[party]]: Object.fromEntries([...buyers].sort((a, b) => a[0].localeCompare(b[0]))) };
  try {
    writePrivateFileAtomic(file, `${JSON.stringify(doc, null, 2)}\n`);
  } catch (e) {
    throw new SecretsError(`cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function withLock<T>(dataDir: string, fn: () => T): T {
  const lock = path.join(dataDir, `${BUYERS_FILE}.lock`);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, PRIVATE_FILE_MODE));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new SecretsError(`cannot lock ${lock}: ${(e as Error).message}`, { cause: e });
      const age = lockAgeMs(lock);
      if (age !== null && age > LOCK_STALE_MS) {
        fs.rmSync(lock, { force: true }); // left by a killed writer
        continue;
      }
      if (Date.now() > deadline) throw new SecretsError(`${lock} is held by another process; try again`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // a short synchronous pause (CLI only)
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function lockAgeMs(lock: string): number | null {
  try {
    return Date.now() - fs.statSync(lock).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * The registered payer key of a buyer (`token --buyer ID --payer-key KEY`),
 * read from `<dataDir>/buyers.json` again whenever the file changed. Throws
 * when the file cannot be read (the caller refuses rather than guess).
 */
export function buyerKeyReader(dataDir: string): (account: string) => string | undefined {
  const file = buyersPath(dataDir);
  let stamp = '';
  let keys = new Map<string, string>();
  return (account) => {
    const now = fileStamp(file);
    if (now !== stamp) {
      const next = new Map<string, string>();
      for (const [a, r] of readBuyers(dataDir)) if (r.payerKey) next.set(a, r.payerKey);
      keys = next;
      stamp = now;
    }
    return keys.get(account);
  };
}

function fileStamp(f: string): string {
  try {
    const st = fs.statSync(f);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'none';
  }
}

/**
 * Resolves buyer tokens from `<dataDir>/buyers.json` (re-read when the file
 * changes) to `{kind:'buyer', account, points: grantsFor(account)}`. Tokens
 * are compared in constant time (staticTokenResolver). A file that turns
 * unreadable keeps the last good tokens and logs once.
 */
export function buyerTokenResolver(dataDir: string, grantsFor: (account: string) => BuyerGrant[], logger?: Logger): TokenResolver {
  const file = buyersPath(dataDir);
  let stamp = '';
  let inner: TokenResolver = staticTokenResolver([]);
  let warned = false;
  const payeeFile = buyersPath(dataDir, 'payee');
  const refresh = (): void => {
    const now = `${fileStamp(file)}|${fileStamp(payeeFile)}`;
    if (now === 'none|none') {
      if (stamp !== now) inner = staticTokenResolver([]);
      stamp = now;
      return;
    }
    if (now === stamp) return;
    try {
      const buyers = readBuyers(dataDir, logger);
      const payees = readBuyers(dataDir, logger, 'payee');
      inner = staticTokenResolver([
        ...[...buyers].map(([account, r]) => ({ token: r.token, principal: { kind: 'buyer', account, points: [] } as Principal })),
        ...[...payees].map(([account, r]) => ({ token: r.token, principal: { kind: 'payee', account } as Principal })),
      ]);
      stamp = now;
      warned = false;
    } catch (err) {
      if (!warned) logger?.error({ err: (err as Error).message, file }, 'buyer tokens not reloaded; the previous ones stay valid');
      warned = true;
    }
  };
  return {
    resolve(token: string): Principal | null {
      refresh();
      const p = inner.resolve(token) as Principal | null;
      if (p?.kind === 'payee') return p;
      if (!p || p.kind !== 'buyer') return null;
      return { kind: 'buyer', account: p.account, points: grantsFor(p.account) };
    },
  };
}
