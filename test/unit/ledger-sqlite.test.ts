/** SqliteLedger specifics: files and modes, reopening, schema versions, two connections, retention timer, error codes. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { errorCodesOf } from '../../gateway/base/error-codes';
import { LedgerOpenError, LedgerSchemaError } from '../../gateway/ledger/errors';
import { planPrune, scheduleRetention } from '../../gateway/ledger/retention';
import { SCHEMA_VERSION } from '../../gateway/ledger/schema';
import { LEDGER_FILE, SqliteLedger, openLedger } from '../../gateway/ledger/sqlite-store';
import type { LedgerStore } from '../../gateway/ledger/store';
import { verifyLedger } from '../../gateway/ledger/verify';
import { HOUR, T0, batch, delta, event, meterBatch, rmDir, tmpDir } from './ledger-fixtures';

let root: string;
beforeEach(() => {
  root = tmpDir('m2m-ledger-sqlite-');
});
afterEach(() => rmDir(root));

const mode = (file: string): number => fs.statSync(file).mode & 0o777;

function snapshot(l: LedgerStore) {
  return {
    head: l.head(),
    state: l.loadState(),
    totals: l.ledgerTotals(),
    window: l.ledgerTotals({ fromMs: T0, toMs: T0 + 2 * HOUR }),
    accounts: l.accounts(),
    channels: l.channels(),
    vouchers: l.vouchers(),
    events: l.events(),
    policy: l.latestPolicy(),
  };
}

describe('SqliteLedger files', () => {
  it('creates dataDir (mkdir -p) and dataDir/ledger.db with mode 0600, WAL journal', () => {
    const dir = path.join(root, 'a', 'b', 'data');
    const l = SqliteLedger.open(dir);
    l.commitBatch(meterBatch(1));
    const file = path.join(dir, LEDGER_FILE);
    expect(l.file).toBe(file);
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}-wal`)).toBe(0o600);
    l.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('tightens an existing ledger file to 0600', () => {
    const file = path.join(root, LEDGER_FILE);
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    openLedger(root).close();
    expect(mode(file)).toBe(0o600);
  });

  it('reopens after close with everything in place, and keeps chaining', () => {
    const l = SqliteLedger.open(root);
    l.recordPolicy(1, 'h1', '[]', T0);
    for (let n = 1; n <= 4; n++) l.commitBatch(meterBatch(n));
    l.commitBatch(
      batch(T0 + HOUR, {
        deltas: [delta('pump-1', 'energy', 'pump-1', 5n, T0 + HOUR - 10, T0 + HOUR)],
        events: [event('reset', T0 + HOUR, { device: 'pump-1', point: 'energy', detail: { raw: '0' } })],
      }),
    );
    l.recordVoucher({ channel: 'purifier-1>waterworks', seq: 1, amountNano: 5n, json: '{}', issuedAtMs: T0 + HOUR });
    l.pruneReadings(meterBatch(3).atMs);
    const before = snapshot(l);
    l.close();

    const again = SqliteLedger.open(root, { synchronous: 'FULL' });
    expect(snapshot(again)).toEqual(before);
    const next = again.commitBatch(meterBatch(5));
    expect(next.seq).toBe(before.head.seq + 1);
    again.close();
    expect(verifyLedger(root)).toEqual({ ok: true, batches: next.seq, head: next });
  });

  it('records its schema version and refuses a newer one or a database that is not a ledger', () => {
    SqliteLedger.open(root).close();
    const file = path.join(root, LEDGER_FILE);
    let db = new Database(file);
    expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: SCHEMA_VERSION });
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)").run();
    db.close();
    expect(() => SqliteLedger.open(root)).toThrow(LedgerSchemaError);

    const other = path.join(root, 'other.db');
    db = new Database(other);
    db.exec('CREATE TABLE unrelated (x)');
    db.close();
    expect(() => SqliteLedger.openFile(other)).toThrow(LedgerSchemaError);

    const junk = path.join(root, 'junk.db');
    fs.writeFileSync(junk, 'this is not an sqlite file, not at all, not even close to one.'.repeat(20));
    expect(() => SqliteLedger.openFile(junk)).toThrow(LedgerOpenError);
  });

  it('fails with LedgerOpenError when the data directory cannot be made', () => {
    const blocker = path.join(root, 'file');
    fs.writeFileSync(blocker, 'x');
    expect(() => SqliteLedger.open(path.join(blocker, 'data'))).toThrow(LedgerOpenError);
  });

  it('stays exact when two connections commit to the same file in turn', () => {
    const a = SqliteLedger.open(root);
    const b = SqliteLedger.open(root);
    a.commitBatch(meterBatch(1, { amount: 1n }));
    b.commitBatch(meterBatch(2, { amount: 10n }));
    a.commitBatch(meterBatch(3, { amount: 100n }));
    b.recordVoucher({ channel: 'purifier-1>waterworks', seq: 1, amountNano: 50n, json: '{}', issuedAtMs: T0 });
    a.commitBatch(meterBatch(4, { amount: 1000n }));
    expect(a.head()).toEqual(b.head());
    expect(a.ledgerTotals().map((t) => t.amountNano)).toEqual([1111n]);
    expect(b.ledgerTotals({ fromMs: T0, toMs: T0 + HOUR }).map((t) => t.amountNano)).toEqual([1111n]);
    expect(a.channels()).toEqual([
      { channel: 'purifier-1>waterworks', payer: 'purifier-1', payee: 'waterworks', accruedNano: 1111n, voucheredNano: 50n, lastSeq: 1 },
    ]);
    a.close();
    b.close();
    expect(verifyLedger(root).ok).toBe(true);
  });
});

describe('retention steps', () => {
  it('prune in steps of whole batches from the last mark to the newest batch before the cutoff', () => {
    const l = SqliteLedger.open(root);
    for (let n = 1; n <= 7; n++) l.commitBatch(meterBatch(n));
    const db = new Database(path.join(root, LEDGER_FILE), { readonly: true });
    expect(planPrune(db, meterBatch(8).atMs, 3)).toEqual([
      { fromSeq: 0, throughSeq: 3 },
      { fromSeq: 3, throughSeq: 6 },
      { fromSeq: 6, throughSeq: 7 },
    ]);
    expect(planPrune(db, meterBatch(3).atMs, 3)).toEqual([{ fromSeq: 0, throughSeq: 2 }]);
    expect(planPrune(db, T0, 3)).toEqual([]);
    expect(l.pruneReadings(meterBatch(3).atMs)).toBe(2);
    expect(planPrune(db, meterBatch(5).atMs, 3)).toEqual([{ fromSeq: 2, throughSeq: 4 }]);
    db.close();
    l.close();
  });
});

describe('scheduleRetention', () => {
  afterEach(() => jest.useRealTimers());

  it('prunes at once and then every interval, with the cutoff retainMs before now', () => {
    jest.useFakeTimers();
    const cutoffs: number[] = [];
    let now = 10 * HOUR;
    const errors: unknown[] = [];
    const sched = scheduleRetention(
      {
        pruneReadings: (t) => {
          cutoffs.push(t);
          if (cutoffs.length === 2) throw new Error('disk busy');
          return 0;
        },
      },
      { retainMs: 3 * HOUR, everyMs: HOUR, now: () => now, onError: (e) => errors.push(e) },
    );
    expect(cutoffs).toEqual([7 * HOUR]);
    now += HOUR;
    jest.advanceTimersByTime(HOUR);
    now += HOUR;
    jest.advanceTimersByTime(HOUR);
    expect(cutoffs).toEqual([7 * HOUR, 8 * HOUR, 9 * HOUR]);
    expect(errors).toHaveLength(1);
    sched.stop();
    jest.advanceTimersByTime(5 * HOUR);
    expect(cutoffs).toHaveLength(3);
  });
});

describe('ledger errors', () => {
  it('have unique GW_ERR_LEDGER_* codes', () => {
    const codes = errorCodesOf('ledger');
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^GW_ERR_LEDGER_[A-Z]+$/);
  });
});
