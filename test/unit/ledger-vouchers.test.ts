/**
 * Vouchers in the ledger (schema version 3, gateway/ledger/schema.ts): the
 * signed JSON lives only in the body of the batch that recorded it; the
 * vouchers table keeps channel, seq, amount, issue time and that batch, and is
 * indexed by issue time for `GET /api/vouchers?since=`. A version 2 ledger
 * (JSON in the row too) migrates on open without changing a voucher.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LedgerDamagedError } from '../../gateway/ledger/errors';
import { schemaVersion, SCHEMA_VERSION } from '../../gateway/ledger/schema';
import { LEDGER_FILE, SqliteLedger } from '../../gateway/ledger/sqlite-store';
import type { LedgerVoucher } from '../../gateway/ledger/store';
import { verifyLedger } from '../../gateway/ledger/verify';

const T0 = Date.UTC(2026, 11, 8, 10);
const voucher = (channel: string, seq: number, atMs: number): LedgerVoucher => ({
  channel,
  seq,
  amountNano: BigInt(seq) * 1_000_000_000n,
  json: JSON.stringify({ v: 1, channel, seq, amount: `${seq}.000000000`, issuedAt: new Date(atMs).toISOString(), sig: `sig-${seq}` }),
  issuedAtMs: atMs,
});

describe('vouchers in the ledger', () => {
  let dir = '';
  const file = () => path.join(dir, LEDGER_FILE);
  const recorded = [
    voucher('p-1>ww', 1, T0),
    voucher('p-2>ww', 1, T0 + 1000),
    voucher('p-1>ww', 2, T0 + 2000),
    voucher('p-1>ww', 3, T0 + 3000),
  ];
  /** Without the batch the store adds. */
  const plain = (vs: LedgerVoucher[]) =>
    vs.map((v) => ({ channel: v.channel, seq: v.seq, amountNano: v.amountNano, json: v.json, issuedAtMs: v.issuedAtMs }));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-ledger-vouchers-'));
    const l = SqliteLedger.open(dir);
    try {
      for (const v of recorded) l.recordVoucher(v);
    } finally {
      l.close();
    }
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the JSON comes back verbatim from the batch bodies; since (issued at or after) and channel filter in the query', () => {
    const l = SqliteLedger.open(dir);
    try {
      const byChannel = [recorded[0]!, recorded[2]!, recorded[3]!, recorded[1]!];
      expect(plain(l.vouchers())).toEqual(byChannel);
      expect(plain(l.voucherPage({ sinceMs: T0 + 2000 }))).toEqual([recorded[2], recorded[3]]);
      expect(plain(l.voucherPage({ channel: 'p-1>ww', sinceSeq: 1, sinceMs: T0 }))).toEqual([recorded[2], recorded[3]]);
      expect(plain(l.voucherPage({ channel: 'p-2>ww', sinceMs: T0 + 1001 }))).toEqual([]);
      // One voucher's amount (what a payee's receivable is checked against), without a body read.
      expect(l.voucherAmount('p-1>ww', 2)).toBe(2_000_000_000n);
      expect(l.voucherAmount('p-1>ww', 4)).toBeUndefined();
    } finally {
      l.close();
    }
    const db = new Database(file(), { readonly: true });
    try {
      expect((db.prepare('PRAGMA table_info(vouchers)').all() as Array<{ name: string }>).map((c) => c.name)).not.toContain('json');
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT channel FROM vouchers WHERE issued_at_ms >= 1').all() as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail).join(' ')).toMatch(/vouchers_by_time/);
    } finally {
      db.close();
    }
  });

  test('pages: the oldest `limit` by issue time and the rest of that millisecond; paging by the newest issue time moves on', () => {
    const l = SqliteLedger.open(dir);
    try {
      const sameMs = [voucher('p-3>ww', 1, T0 + 5000), voucher('p-4>ww', 1, T0 + 5000), voucher('p-5>ww', 1, T0 + 5000)];
      for (const v of [...sameMs, voucher('p-1>ww', 4, T0 + 6000)]) l.recordVoucher(v);
      const page = (since: number | undefined, limit: number) =>
        plain(l.voucherPage({ sinceMs: since, limit })).map((v) => `${v.channel}#${v.seq}`);
      expect(page(undefined, 2)).toEqual(['p-1>ww#1', 'p-2>ww#1']);
      expect(page(T0 + 2000, 2)).toEqual(['p-1>ww#2', 'p-1>ww#3']);
      // Limit 1 at T0+5000 takes the whole millisecond (three vouchers) …
      expect(page(T0 + 4000, 1)).toEqual(['p-3>ww#1', 'p-4>ww#1', 'p-5>ww#1']);
      // … and asking again from it reaches into the next one instead of answering the same page.
      expect(page(T0 + 5000, 1)).toEqual(['p-1>ww#4', 'p-3>ww#1', 'p-4>ww#1', 'p-5>ww#1']);
      expect(page(T0 + 6000, 1)).toEqual(['p-1>ww#4']);
      expect(page(T0 + 6001, 1)).toEqual([]);
      expect(plain(l.voucherPage({ channel: 'p-1>ww', limit: 2 })).map((v) => v.seq)).toEqual([1, 2]);
      // One payee's page is cut among its own vouchers: the oldest 2 of everyone's are ww's, not xx's.
      for (let s = 1; s <= 3; s++) l.recordVoucher(voucher('p-9>xx', s, T0 + 7000 + s));
      expect(plain(l.voucherPage({ payee: 'xx', limit: 2 })).map((v) => `${v.channel}#${v.seq}`)).toEqual(['p-9>xx#1', 'p-9>xx#2']);
      expect(plain(l.voucherPage({ payee: 'ww', sinceMs: T0 + 6000, limit: 2 })).map((v) => `${v.channel}#${v.seq}`)).toEqual(['p-1>ww#4']);
    } finally {
      l.close();
    }
  });

  test('a row that names a batch whose body does not hold it is damage, said with a code (and verify says which channel)', () => {
    const db = new Database(file());
    db.prepare("UPDATE vouchers SET batch_seq = 1 WHERE channel = 'p-1>ww' AND seq = 3").run();
    db.close();
    const l = SqliteLedger.open(dir);
    try {
      expect(() => l.vouchers('p-1>ww')).toThrow(LedgerDamagedError);
      expect(() => l.vouchers('p-1>ww')).toThrow('voucher p-1>ww#3 is not in the body of batch 1');
      expect(plain(l.vouchers('p-2>ww'))).toEqual([recorded[1]]);
    } finally {
      l.close();
    }
    expect(verifyLedger(dir)).toMatchObject({ ok: false, reason: 'vouchers of p-1>ww differ from the chain' });
  });

  test('a batch body that cannot be decoded is damage too', () => {
    const db = new Database(file());
    db.prepare("UPDATE batches SET body = x'00ff00ff' WHERE seq = (SELECT batch_seq FROM vouchers WHERE channel = 'p-2>ww')").run();
    db.close();
    const l = SqliteLedger.open(dir);
    try {
      expect(() => l.vouchers('p-2>ww')).toThrow(LedgerDamagedError);
      expect(() => l.vouchers('p-2>ww')).toThrow(/^batch 2: body cannot be decoded/);
    } finally {
      l.close();
    }
  });

  test('a version 2 ledger (the JSON in the row too) migrates on open: the same vouchers, and it verifies', () => {
    // Back to version 2 as that release wrote it: the json column, no time index.
    const db = new Database(file());
    db.exec('DROP INDEX vouchers_by_time; ALTER TABLE vouchers ADD COLUMN json TEXT');
    for (const v of recorded) db.prepare('UPDATE vouchers SET json = ? WHERE channel = ? AND seq = ?').run(v.json, v.channel, v.seq);
    db.prepare('DELETE FROM schema_migrations WHERE version = 3').run();
    expect(schemaVersion(db)).toBe(2);
    db.close();

    const l = SqliteLedger.open(dir);
    try {
      expect(plain(l.vouchers())).toEqual([recorded[0], recorded[2], recorded[3], recorded[1]]);
    } finally {
      l.close();
    }
    const after = new Database(file(), { readonly: true });
    expect(schemaVersion(after)).toBe(SCHEMA_VERSION);
    expect((after.prepare('PRAGMA table_info(vouchers)').all() as Array<{ name: string }>).map((c) => c.name)).not.toContain('json');
    after.close();
    expect(verifyLedger(dir)).toMatchObject({ ok: true, batches: recorded.length });
  });
});
