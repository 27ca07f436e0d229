/**
 * The ledger on SQLite (better-sqlite3): `dataDir/ledger.db`, mode 0600.
 *
 * Durability: WAL journal, one IMMEDIATE transaction per batch, and
 * `synchronous=NORMAL` by default. In WAL mode NORMAL does not fsync on each
 * commit, but a commit is in the WAL file (the OS page cache) when
 * `commitBatch` returns, so a process crash — kill -9 at any instant — loses
 * nothing committed and never leaves half a batch: SQLite replays the WAL up
 * to the last complete commit on the next open. Only an OS crash or power
 * loss can drop the most recent commits (never corrupt the file or the
 * chain). Pass `synchronous: 'FULL'` to fsync every commit and survive that
 * too, at the price bench/ledger.ts measures.
 *
 * Every read-modify-write happens inside the write transaction, so a failed
 * commit changes nothing (the aggregate cache only takes committed rows, see
 * aggregate-writer.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { aggregateBatch } from './batch-aggregates';
import { checkBatch, checkPolicy, checkVoucher } from './batch-check';
import { LedgerBatchError, LedgerClosedError, LedgerOpenError, LedgerPolicyError, LedgerQueryError, LedgerSchemaError } from './errors';
import { GENESIS_HASH, chainHash, encodeBody, encodeReadings, packText, sha256Hex, toBody } from './hash-chain';
import { type PruneStep, dropReadings, planPrune } from './retention';
import { migrate } from './schema';
import { queryEventIds, queryEvents, queryTotals, queryVouchers } from './sqlite-queries';
import { AggregateWriter } from './aggregate-writer';
import { type ChannelDbRow, type HeadRow, type Statements, prepareStatements } from './sqlite-statements';
import type {
  LedgerAccountRow,
  LedgerBatch,
  LedgerChannelRow,
  LedgerCommit,
  LedgerEventRecord,
  LedgerEventsFilter,
  LedgerHead,
  LedgerPolicyRecord,
  LedgerState,
  LedgerStore,
  LedgerTotal,
  LedgerTotalsFilter,
  LedgerVoucher,
  LedgerVoucherRecord,
} from './store';

export const LEDGER_FILE = 'ledger.db';

export type LedgerSynchronous = 'NORMAL' | 'FULL';

export interface SqliteLedgerOptions {
  /** SQLite `synchronous` in WAL mode. NORMAL (default) survives process crashes; FULL also OS crashes. */
  synchronous?: LedgerSynchronous;
}

type Db = Database.Database;

function openDatabase(file: string, opts: SqliteLedgerOptions): Db {
  let db: Db | undefined;
  try {
    db = new Database(file);
    if (file !== ':memory:') {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
    }
    db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    migrate(db);
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
  private readonly commitTx: (b: LedgerBatch, prune?: PruneStep) => LedgerCommit;
  private readonly aggregates: AggregateWriter;
  /** Readings dropped by the last prune step (set inside its transaction). */
  private lastDropped = 0;

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
    return new SqliteLedger(openDatabase(file, opts), file);
  }

  /** A ledger that lives in memory only (tests, dry runs). */
  static inMemory(): SqliteLedger {
    return SqliteLedger.openFile(':memory:');
  }

  private constructor(
    db: Db,
    readonly file: string,
  ) {
    this.conn = db;
    this.st = prepareStatements(db);
    this.aggregates = new AggregateWriter(this.st);
    const tx = db.transaction((b: LedgerBatch, prune?: PruneStep) => this.write(b, prune));
    this.commitTx = (b, prune) => {
      const c = tx.immediate(b, prune);
      this.aggregates.committed(c.seq);
      return c;
    };
  }

  private get db(): Db {
    if (!this.conn) throw new LedgerClosedError();
    return this.conn;
  }

  private assertOpen(): void {
    if (!this.conn) throw new LedgerClosedError();
  }

  commitBatch(b: LedgerBatch): LedgerCommit {
    this.assertOpen();
    checkBatch(b);
    return this.commitTx(b);
  }

  recordVoucher(v: LedgerVoucher): LedgerCommit {
    this.assertOpen();
    checkVoucher(v);
    return this.commitTx({ ...this.emptyBatch(v.issuedAtMs), vouchers: [v] });
  }

  recordPolicy(version: number, hash: string, flowsJson: string, atMs: number): LedgerCommit {
    this.assertOpen();
    const policy = { version, hash, flowsJson };
    checkPolicy(policy);
    if (!Number.isSafeInteger(atMs)) throw new LedgerBatchError('policy atMs: must be an integer (epoch ms)');
    return this.commitTx({
      ...this.emptyBatch(atMs),
      policyVersion: version,
      events: [{ kind: 'policy-change', tsMs: atMs, detail: { version, hash } }],
      policy,
    });
  }

  /** The body of the commit transaction. Any throw rolls everything back. */
  private write(b: LedgerBatch, prune?: PruneStep): LedgerCommit {
    const st = this.st;
    const head = st.head.get() as HeadRow | undefined;
    const seq = head ? head.seq + 1 : 1;
    const prevHash = head ? head.hash : GENESIS_HASH;
    this.aggregates.begin(head ? head.seq : 0);
    if (b.policy) {
      const latest = st.latestPolicy.get() as { version: number } | undefined;
      if (latest && b.policy.version <= latest.version) {
        throw new LedgerPolicyError(`policy version ${b.policy.version} is not above the latest ${latest.version}`);
      }
    }
    if (prune) {
      const n = dropReadings(this.db, prune);
      this.lastDropped = n;
      const detail = { throughSeq: prune.throughSeq, readings: n };
      b = { ...b, events: [{ kind: 'readings-pruned', tsMs: b.atMs, detail }] };
    }
    const readingsText = encodeReadings(b.readings);
    const body = encodeBody(toBody(seq, b, sha256Hex(readingsText), prune ? prune.throughSeq : null));
    const hash = chainHash(prevHash, body);
    const vouchers = b.vouchers ?? [];
    const n = b.readings.length;
    st.insertBatch.run(seq, b.atMs, b.policyVersion, n, b.deltas.length, b.accruals.length, b.events.length, vouchers.length, prevHash, hash, packText(body));
    if (n > 0) st.insertReadings.run(seq, n, packText(readingsText));

    this.aggregates.write(aggregateBatch(b.deltas, b.accruals));

    for (const e of b.events) {
      st.insertEvent.run(seq, e.kind, e.device ?? null, e.point ?? null, e.account ?? null, e.tsMs, JSON.stringify(e.detail));
    }
    const slots: unknown[] = [];
    for (const s of b.state.slots) {
      const held = s.heldRaw === null ? null : s.heldRaw.toString();
      slots.push(s.device, s.point, s.hasBaseline ? 1 : 0, s.lastRaw.toString(), s.lastTsMs, held, s.heldTsMs, seq);
    }
    st.putSlots.run(slots);
    const lines: unknown[] = [];
    for (const l of b.state.lines) lines.push(l.device, l.point, l.account, l.payee, l.remainder.toString(), seq);
    st.putLines.run(lines);
    for (const a of b.state.accounts) st.putAccount.run(a.account, a.unsettledNano.toString(), a.overLimit ? 1 : 0, seq);

    for (const v of vouchers) this.aggregates.voucher(v, seq);
    if (b.policy) st.insertPolicy.run(b.policy.version, b.policy.hash, b.policy.flowsJson, b.atMs, seq);
    return { seq, hash };
  }

  eventIdsOf(batchSeq: number): number[] {
    this.assertOpen();
    return queryEventIds(this.db, batchSeq);
  }

  ledgerTotals(filter: LedgerTotalsFilter = {}): LedgerTotal[] {
    return queryTotals(this.db, filter);
  }

  accounts(): LedgerAccountRow[] {
    const byAccount = new Map<string, LedgerAccountRow>();
    const row = (account: string): LedgerAccountRow => {
      let r = byAccount.get(account);
      if (!r) byAccount.set(account, (r = { account, unsettledNano: 0n, voucheredNano: 0n }));
      return r;
    };
    this.assertOpen();
    for (const a of this.st.allAccounts.all() as Array<{ account: string; unsettled_nano: string }>) {
      row(a.account).unsettledNano = BigInt(a.unsettled_nano);
    }
    for (const c of this.st.allChannels.all() as ChannelDbRow[]) row(c.payer).voucheredNano += BigInt(c.vouchered_nano);
    return [...byAccount.values()].sort((x, y) => (x.account < y.account ? -1 : x.account > y.account ? 1 : 0));
  }

  channels(): LedgerChannelRow[] {
    this.assertOpen();
    return (this.st.allChannels.all() as ChannelDbRow[]).map((c) => ({
      channel: c.channel,
      payer: c.payer,
      payee: c.payee,
      accruedNano: BigInt(c.accrued_nano),
      voucheredNano: BigInt(c.vouchered_nano),
      lastSeq: c.last_seq,
    }));
  }

  vouchers(channel?: string, sinceSeq?: number): LedgerVoucherRecord[] {
    return queryVouchers(this.db, channel, sinceSeq);
  }

  events(filter: LedgerEventsFilter = {}): LedgerEventRecord[] {
    return queryEvents(this.db, filter);
  }

  loadState(): LedgerState {
    this.assertOpen();
    const st = this.st;
    type SlotRow = { device: string; point: string; has_baseline: number; last_raw: string; last_ts_ms: number; held_raw: string | null; held_ts_ms: number };
    type LineRow = { device: string; point: string; account: string; payee: string; remainder: string };
    type AccountRow = { account: string; unsettled_nano: string; over_limit: number };
    return {
      slots: (st.allSlots.all() as SlotRow[]).map((s) => ({
        device: s.device,
        point: s.point,
        hasBaseline: s.has_baseline !== 0,
        lastRaw: BigInt(s.last_raw),
        lastTsMs: s.last_ts_ms,
        heldRaw: s.held_raw === null ? null : BigInt(s.held_raw),
        heldTsMs: s.held_ts_ms,
      })),
      lines: (st.allLines.all() as LineRow[]).map((l) => ({
        device: l.device,
        point: l.point,
        payee: l.payee,
        account: l.account,
        remainder: BigInt(l.remainder),
      })),
      accounts: (st.allAccounts.all() as AccountRow[]).map((a) => ({
        account: a.account,
        unsettledNano: BigInt(a.unsettled_nano),
        overLimit: a.over_limit !== 0,
      })),
    };
  }

  head(): LedgerHead {
    this.assertOpen();
    const h = this.st.head.get() as HeadRow | undefined;
    return h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  latestPolicy(): LedgerPolicyRecord | null {
    this.assertOpen();
    const p = this.st.latestPolicy.get() as
      | { version: number; hash: string; flows_json: string; at_ms: number; batch_seq: number }
      | undefined;
    return p ? { version: p.version, hash: p.hash, flowsJson: p.flows_json, atMs: p.at_ms, batchSeq: p.batch_seq } : null;
  }

  /**
   * Retention: drop the raw readings of every batch committed before
   * `olderThanMs` (see retention.ts), each step a chained batch of its own.
   * Returns the number of readings dropped.
   */
  pruneReadings(olderThanMs: number): number {
    if (!Number.isSafeInteger(olderThanMs)) throw new LedgerQueryError('pruneReadings: olderThanMs must be an integer (epoch ms)');
    let dropped = 0;
    for (const step of planPrune(this.db, olderThanMs)) {
      this.commitTx(this.emptyBatch(Date.now()), step);
      dropped += this.lastDropped;
    }
    return dropped;
  }

  private emptyBatch(atMs: number): LedgerBatch {
    return {
      atMs,
      policyVersion: this.latestPolicy()?.version ?? 0,
      readings: [],
      deltas: [],
      accruals: [],
      events: [],
      state: { slots: [], lines: [], accounts: [] },
    };
  }

  /** Close the database (idempotent). Later calls throw LedgerClosedError. */
  close(): void {
    if (!this.conn) return;
    const db = this.conn;
    this.conn = null;
    db.close();
  }
}

/** `SqliteLedger.open(dataDir, opts)`. */
export function openLedger(dataDir: string, opts: SqliteLedgerOptions = {}): SqliteLedger {
  return SqliteLedger.open(dataDir, opts);
}
