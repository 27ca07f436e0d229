/**
 * The ledger on SQLite (better-sqlite3): `dataDir/ledger.db`, mode 0600.
 * It keeps money, not readings (docs/ledger.md): one chained row per commit,
 * the per-device packed core state, per-line totals and closed hours,
 * channels, accounts, events, vouchers, policies, alarms.
 *
 * Durability (docs/ledger.md, "Durability"): WAL journal, one IMMEDIATE
 * transaction per commit. With `synchronous=NORMAL` (the default) a commit
 * is in the WAL (the OS page cache) when `commitBatch` returns: a process
 * crash — kill -9 at any instant — loses nothing committed and never leaves
 * half a commit. Power loss can drop the latest metering commits, which is
 * safe: counters are cumulative, so the restart bills from the last
 * committed raw value. What must survive power loss is synced: a commit
 * carrying vouchers or a policy change runs with `synchronous=FULL` (the WAL
 * is fsynced before `commitBatch` returns, so a voucher is never published
 * with a seq the ledger could forget). `synchronous: 'FULL'` syncs every commit.
 *
 * A failed commit changes nothing (the state cache is reloaded, see state-cache.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { batchUsage, hourWindow, parseChannel } from './batch-aggregates';
import { checkBatch, checkPolicy, checkVoucher } from './batch-check';
import { CommitWork } from './commit-work';
import { LedgerBatchError, LedgerClosedError, LedgerOpenError, LedgerPolicyError, LedgerQueryError, LedgerSchemaError } from './errors';
import { GENESIS_HASH, chainHash, encodeBody, packText, toBody, unpackText } from './hash-chain';
import { readHistory, writeHistory } from './history';
import { backupV1 } from './migrate-v1';
import { migrate, schemaVersion } from './schema';
import { queryClosedHours, queryEventIds, queryEvents, queryVouchers } from './sqlite-queries';
import { type HeadRow, type Statements, prepareStatements } from './sqlite-statements';
import { type LineRec, StateCache } from './state-cache';
import type {
  LedgerAccountRow,
  LedgerAlarm,
  LedgerBatch,
  LedgerChannelRow,
  LedgerCommit,
  LedgerEventRecord,
  LedgerEventsFilter,
  LedgerHead,
  LedgerHistoryFilter,
  LedgerPolicyRecord,
  LedgerSample,
  LedgerState,
  LedgerStore,
  LedgerTotal,
  LedgerTotalsFilter,
  LedgerVoucher,
  LedgerVoucherRecord,
  LedgerVouchersFilter,
} from './store';

export const LEDGER_FILE = 'ledger.db';

export type LedgerSynchronous = 'NORMAL' | 'FULL';

export interface SqliteLedgerOptions {
  /** SQLite `synchronous` in WAL mode. NORMAL (default): vouchers and policy changes are synced, metering commits not; FULL: every commit. */
  synchronous?: LedgerSynchronous;
  /** WAL pages before an automatic checkpoint (default 4000, ~16 MB: fewer checkpoints rewriting the same state pages). */
  walAutocheckpoint?: number;
  /** Time for the migration's own commit (tests); default now. */
  nowMs?: () => number;
}

/** SQLite page size for a new ledger file (flash pages are 4 KiB; set before the first table). */
export const PAGE_SIZE = 4096;
export const DEFAULT_WAL_AUTOCHECKPOINT = 4000;

type Db = Database.Database;

/** Names in code point order (UTF-8 byte order, what SQLite's BINARY collation gives). */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareNames(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

function openDatabase(file: string, opts: SqliteLedgerOptions): Db {
  let db: Db | undefined;
  try {
    db = new Database(file);
    if (file !== ':memory:') {
      db.pragma(`page_size = ${PAGE_SIZE}`); // only takes effect on a new file
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
      db.pragma(`wal_autocheckpoint = ${opts.walAutocheckpoint ?? DEFAULT_WAL_AUTOCHECKPOINT}`);
      db.pragma('journal_size_limit = 67108864'); // truncate the WAL back to 64 MiB after a checkpoint
    }
    db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    if (file !== ':memory:' && schemaVersion(db) === 1) backupV1(db, file);
    migrate(db, (opts.nowMs ?? Date.now)());
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof LedgerSchemaError) throw err;
    throw new LedgerOpenError(`cannot open ledger ${file}: ${(err as Error).message}`, err);
  }
}

export class SqliteLedger implements LedgerStore {
  private conn: Db | null;
  private readonly st: Statements;
  private readonly tx: (b: LedgerBatch) => LedgerCommit;
  private readonly cache = new StateCache();
  private readonly synchronous: LedgerSynchronous;

  /** Open (creating if needed) `dataDir/ledger.db`; `dataDir` is created (mode 0700) when missing. */
  static open(dataDir: string, opts: SqliteLedgerOptions = {}): SqliteLedger {
    try {
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new LedgerOpenError(`cannot create data directory ${dataDir}: ${(err as Error).message}`, err);
    }
    return SqliteLedger.openFile(path.join(dataDir, LEDGER_FILE), opts);
  }

  /** Open a ledger file by path (created with mode 0600), or ':memory:' for a throw-away ledger. */
  static openFile(file: string, opts: SqliteLedgerOptions = {}): SqliteLedger {
    if (file !== ':memory:') {
      try {
        fs.closeSync(fs.openSync(file, 'a', 0o600));
        fs.chmodSync(file, 0o600);
      } catch (err) {
        throw new LedgerOpenError(`cannot create ledger file ${file}: ${(err as Error).message}`, err);
      }
    }
    return new SqliteLedger(openDatabase(file, opts), file, opts);
  }

  /** A ledger that lives in memory only (tests, dry runs). */
  static inMemory(): SqliteLedger {
    return SqliteLedger.openFile(':memory:');
  }

  private constructor(
    db: Db,
    readonly file: string,
    opts: SqliteLedgerOptions,
  ) {
    this.conn = db;
    this.synchronous = opts.synchronous ?? 'NORMAL';
    this.st = prepareStatements(db);
    const tx = db.transaction((b: LedgerBatch) => this.write(b));
    this.tx = (b) => tx.immediate(b);
  }

  private get db(): Db {
    if (!this.conn) throw new LedgerClosedError();
    return this.conn;
  }

  private assertOpen(): void {
    if (!this.conn) throw new LedgerClosedError();
  }

  /** Run one commit; vouchers and policy changes are synced to disk even when metering commits are not. */
  private commit(b: LedgerBatch): LedgerCommit {
    const db = this.db;
    const sync = this.synchronous === 'NORMAL' && this.file !== ':memory:' && ((b.vouchers?.length ?? 0) > 0 || b.policy !== undefined);
    if (sync) db.pragma('synchronous = FULL');
    try {
      const c = this.tx(b);
      this.cache.seq = c.seq;
      return c;
    } finally {
      if (sync) db.pragma('synchronous = NORMAL');
    }
  }

  commitBatch(b: LedgerBatch): LedgerCommit {
    this.assertOpen();
    checkBatch(b);
    return this.commit(b);
  }

  recordVoucher(v: LedgerVoucher): LedgerCommit {
    this.assertOpen();
    checkVoucher(v);
    return this.commit({ ...this.emptyBatch(v.issuedAtMs), vouchers: [v] });
  }

  recordPolicy(version: number, hash: string, flowsJson: string, atMs: number): LedgerCommit {
    this.assertOpen();
    const policy = { version, hash, flowsJson };
    checkPolicy(policy);
    if (!Number.isSafeInteger(atMs)) throw new LedgerBatchError('policy atMs: must be an integer (epoch ms)');
    return this.commit({
      ...this.emptyBatch(atMs),
      policyVersion: version,
      events: [{ kind: 'policy-change', tsMs: atMs, detail: { version, hash } }],
      policy,
    });
  }

  /** The body of the commit transaction. Any throw rolls everything back. */
  private write(b: LedgerBatch): LedgerCommit {
    const st = this.st;
    const head = st.head.get() as HeadRow | undefined;
    const headSeq = head ? head.seq : 0;
    const seq = headSeq + 1;
    const prevHash = head ? head.hash : GENESIS_HASH;
    if (this.cache.seq !== headSeq) this.cache.load(this.db, headSeq);
    this.cache.seq = -1; // stale until this transaction commits
    if (b.policy) {
      const latest = st.latestPolicy.get() as { version: number } | undefined;
      if (latest && b.policy.version <= latest.version) {
        throw new LedgerPolicyError(`policy version ${b.policy.version} is not above the latest ${latest.version}`);
      }
    }
    const work = new CommitWork(this.cache, seq);
    for (const u of batchUsage(b)) work.addUsage(u);
    work.closeEnded(b.atMs, b.closeDevices);
    work.putState(b.state);
    work.addEvents(b.events);
    const vouchers = b.vouchers ?? [];
    for (const v of vouchers) {
      const parts = parseChannel(v.channel)!;
      work.addVoucher(v, parts.payer, parts.payee);
    }
    work.write(st);
    for (const e of b.events) {
      st.insertEvent.run(seq, e.kind, e.device ?? null, e.point ?? null, e.account ?? null, e.tsMs, JSON.stringify(e.detail));
    }
    for (const v of vouchers) st.insertVoucher.run(v.channel, v.seq, v.amountNano.toString(), v.issuedAtMs, seq);
    if (b.policy) st.insertPolicy.run(b.policy.version, b.policy.hash, b.policy.flowsJson, b.atMs, seq);
    const metered = b.metered ?? { readings: 0, deltas: b.deltas?.length ?? 0, accruals: b.accruals?.length ?? 0 };
    const body = encodeBody(
      toBody(seq, {
        atMs: b.atMs,
        policyVersion: b.policyVersion,
        accruedQtyMicro: work.accruedQtyMicro,
        accruedNano: work.accruedNano,
        metered,
        closed: work.closedHours(),
        lines: work.newLines,
        events: b.events,
        vouchers,
        policy: b.policy ?? null,
        state: work.digests(),
      }),
    );
    const hash = chainHash(prevHash, body);
    st.insertBatch.run(
      seq,
      b.atMs,
      b.policyVersion,
      metered.readings,
      metered.deltas,
      metered.accruals,
      b.events.length,
      vouchers.length,
      prevHash,
      hash,
      packText(body),
    );
    return { seq, hash };
  }

  /** The state cache at the current head (reloaded in a read transaction when another connection committed). */
  private fresh(): StateCache {
    const db = this.db;
    const headSeq = (this.st.head.get() as HeadRow | undefined)?.seq ?? 0;
    if (this.cache.seq !== headSeq) {
      db.transaction(() => this.cache.load(db, (this.st.head.get() as HeadRow | undefined)?.seq ?? 0))();
    }
    return this.cache;
  }

  eventIdsOf(batchSeq: number): number[] {
    return queryEventIds(this.db, batchSeq);
  }

  ledgerTotals(filter: LedgerTotalsFilter = {}): LedgerTotal[] {
    for (const k of ['fromMs', 'toMs'] as const) {
      if (filter[k] !== undefined && !Number.isSafeInteger(filter[k]))
        throw new LedgerQueryError(`ledger totals ${k} must be an integer (epoch ms)`);
    }
    const c = this.fresh();
    const wanted = (l: LineRec): boolean =>
      (filter.device === undefined || l.device === filter.device) && (filter.point === undefined || l.point === filter.point);
    const out = new Map<LineRec, LedgerTotal>();
    const add = (l: LineRec, q: bigint, a: bigint): void => {
      const t = out.get(l);
      if (t) {
        t.quantityMicro += q;
        t.amountNano += a;
      } else out.set(l, { device: l.device, point: l.point, account: l.account, payee: l.payee, quantityMicro: q, amountNano: a });
    };
    const windowed = filter.fromMs !== undefined || filter.toMs !== undefined;
    const w = hourWindow(filter.fromMs, filter.toMs);
    const inWindow = (h: number): boolean => (w.fromMs === null || h >= w.fromMs) && (w.toMs === null || h < w.toMs);
    if (windowed) {
      for (const h of queryClosedHours(this.db, w.fromMs, w.toMs)) {
        const l = c.linesById.get(h.lineId);
        if (l && wanted(l)) add(l, h.quantityMicro, h.amountNano);
      }
    } else {
      for (const l of c.linesById.values()) if (wanted(l)) add(l, l.closedQty, l.closedNano);
    }
    for (const d of c.devices.values()) {
      if (filter.device !== undefined && d.state.device !== filter.device) continue;
      for (const [id, open] of d.state.open) {
        const l = c.linesById.get(id)!;
        if (open && wanted(l) && (!windowed || inWindow(open.hourMs))) add(l, open.quantityMicro, open.amountNano);
      }
    }
    return [...out.values()].sort((x, y) => compareKeys([x.device, x.point, x.account, x.payee], [y.device, y.point, y.account, y.payee]));
  }

  accounts(): LedgerAccountRow[] {
    const c = this.fresh();
    const byAccount = new Map<string, LedgerAccountRow>();
    const row = (account: string): LedgerAccountRow => {
      let r = byAccount.get(account);
      if (!r) byAccount.set(account, (r = { account, unsettledNano: 0n, voucheredNano: 0n }));
      return r;
    };
    for (const [name, a] of c.accounts) row(name).unsettledNano = a.unsettledNano;
    for (const ch of c.channels.values()) row(ch.payer).voucheredNano += ch.voucheredNano;
    return [...byAccount.values()].sort((x, y) => (x.account < y.account ? -1 : x.account > y.account ? 1 : 0));
  }

  channels(): LedgerChannelRow[] {
    const c = this.fresh();
    return [...c.channels.values()]
      .map((ch) => ({
        channel: ch.channel,
        payer: ch.payer,
        payee: ch.payee,
        accruedNano: ch.closedNano + ch.openNano,
        voucheredNano: ch.voucheredNano,
        lastSeq: ch.lastSeq,
      }))
      .sort((x, y) => compareNames(x.channel, y.channel));
  }

  voucherAmount(channel: string, seq: number): bigint | undefined {
    this.assertOpen();
    const row = this.st.voucherAmount.get(channel, seq) as { amount_nano: string } | undefined;
    return row === undefined ? undefined : BigInt(row.amount_nano);
  }

  vouchers(channel?: string, sinceSeq?: number): LedgerVoucherRecord[] {
    return queryVouchers(this.db, { channel, sinceSeq });
  }

  voucherPage(filter: LedgerVouchersFilter): LedgerVoucherRecord[] {
    return queryVouchers(this.db, filter);
  }

  events(filter: LedgerEventsFilter = {}): LedgerEventRecord[] {
    return queryEvents(this.db, filter);
  }

  loadState(): LedgerState {
    const c = this.fresh();
    const state: LedgerState = { slots: [], lines: [], accounts: [] };
    for (const d of c.devices.values()) {
      for (const [point, s] of d.state.slots) state.slots.push({ device: d.state.device, point, ...s });
      for (const r of d.state.remainders)
        state.lines.push({ device: d.state.device, point: r.point, account: r.account, payee: r.payee, remainder: r.remainder });
    }
    for (const [account, a] of c.accounts) state.accounts.push({ account, unsettledNano: a.unsettledNano, overLimit: a.overLimit });
    state.slots.sort((x, y) => compareKeys([x.device, x.point], [y.device, y.point]));
    state.lines.sort((x, y) => compareKeys([x.device, x.point, x.account, x.payee], [y.device, y.point, y.account, y.payee]));
    state.accounts.sort((x, y) => compareNames(x.account, y.account));
    return state;
  }

  activeAlarms(): LedgerAlarm[] {
    const c = this.fresh();
    return [...c.alarms.values()].map((a) => ({ ...a })).sort((x, y) => compareKeys([x.policy, x.device], [y.policy, y.device]));
  }

  head(): LedgerHead {
    this.assertOpen();
    const h = this.st.head.get() as HeadRow | undefined;
    return h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  body(seq: number): string | null {
    this.assertOpen();
    const row = this.st.body.get(seq) as { body: Buffer } | undefined;
    return row ? unpackText(row.body) : null;
  }

  latestPolicy(): LedgerPolicyRecord | null {
    this.assertOpen();
    const p = this.st.latestPolicy.get() as
      { version: number; hash: string; flows_json: string; at_ms: number; batch_seq: number } | undefined;
    return p ? { version: p.version, hash: p.hash, flowsJson: p.flows_json, atMs: p.at_ms, batchSeq: p.batch_seq } : null;
  }

  recordHistory(samples: LedgerSample[], maxBytes: number): number {
    const db = this.db;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new LedgerQueryError('history maxBytes must be an integer >= 0');
    return db.transaction(() => writeHistory(db, samples, maxBytes)).immediate();
  }

  history(filter: LedgerHistoryFilter = {}): LedgerSample[] {
    return readHistory(this.db, filter);
  }

  private emptyBatch(atMs: number): LedgerBatch {
    return { atMs, policyVersion: this.latestPolicy()?.version ?? 0, events: [], state: { slots: [], lines: [], accounts: [] } };
  }

  /** Close the database (idempotent). Later calls throw LedgerClosedError. */
  close(): void {
    if (!this.conn) return;
    const db = this.conn;
    this.conn = null;
    this.cache.clear();
    db.close();
  }
}

/** `SqliteLedger.open(dataDir, opts)`. */
export function openLedger(dataDir: string, opts: SqliteLedgerOptions = {}): SqliteLedger {
  return SqliteLedger.open(dataDir, opts);
}
