/** SqliteLedger specifics: files and modes, pragmas, reopening, schema versions, two connections, durability of vouchers, error codes. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { errorCodesOf } from '../../gateway/base/error-codes';
import { LedgerOpenError, LedgerSchemaError } from '../../gateway/ledger/errors';
import { SCHEMA_VERSION } from '../../gateway/ledger/schema';
import { DEFAULT_WAL_AUTOCHECKPOINT, LEDGER_FILE, PAGE_SIZE, SqliteLedger, openLedger } from '../../gateway/ledger/sqlite-store';
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
    alarms: l.activeAlarms(),
  };
}

describe('SqliteLedger files', () => {
  it('creates dataDir (mkdir -p) and dataDir/ledger.db with mode 0600, WAL journal, 4 KiB pages', () => {
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
    expect(db.pragma('page_size', { simple: true })).toBe(PAGE_SIZE);
    db.close();
  });

  it('syncs the commits that carry vouchers or a policy change, and only those, when synchronous is NORMAL', () => {
    const l = SqliteLedger.open(root);
    // The connection's own setting, read back through better-sqlite3 after each kind of commit.
    const db = (l as unknown as { conn: Database.Database }).conn;
    const seen: number[] = [];
    const pragma = db.pragma.bind(db);
    (db as unknown as { pragma: typeof db.pragma }).pragma = ((source: string, opts?: Database.PragmaOptions) => {
      if (/^synchronous = /.test(source)) seen.push(source.endsWith('FULL') ? 2 : 1);
      return pragma(source, opts);
    }) as typeof db.pragma;
    l.commitBatch(meterBatch(1));
    expect(seen).toEqual([]);
    l.recordVoucher({ channel: 'purifier-1>waterworks', seq: 1, amountNano: 5n, json: '{}', issuedAtMs: T0 });
    expect(seen).toEqual([2, 1]);
    l.recordPolicy(1, 'h', '[]', T0);
    expect(seen).toEqual([2, 1, 2, 1]);
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(DEFAULT_WAL_AUTOCHECKPOINT);
    l.close();
    const full = SqliteLedger.open(root, { synchronous: 'FULL' });
    expect((full as unknown as { conn: Database.Database }).conn.pragma('synchronous', { simple: true })).toBe(2);
    full.close();
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
    l.commitBatch(
      batch(T0 + HOUR, { events: [event('alarm', T0 + HOUR, { device: 'purifier-1', point: 'cartridge', detail: { policy: 'low' } })] }),
    );
    const before = snapshot(l);
    l.close();

    const again = SqliteLedger.open(root, { synchronous: 'FULL' });
    expect(snapshot(again)).toEqual(before);
    const next = again.commitBatch(meterBatch(5));
    expect(next.seq).toBe(before.head.seq + 1);
    again.close();
    expect(verifyLedger(root)).toEqual({ ok: true, batches: next.seq, head: next, lines: 2 });
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
    expect(b.loadState()).toEqual(a.loadState());
    a.close();
    b.close();
    expect(verifyLedger(root).ok).toBe(true);
  });
});

describe('ledger errors', () => {
  it('have unique GW_ERR_LEDGER_* codes', () => {
    const codes = errorCodesOf('ledger');
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^GW_ERR_LEDGER_[A-Z]+$/);
  });
});
