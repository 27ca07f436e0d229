/**
 * `verifyLedger`: a good ledger verifies; every kind of raw-SQL edit of a
 * copy of it is reported, with the first bad batch where the fault has one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import canonicalize from 'canonicalize';
import { LedgerOpenError } from '../../gateway/ledger/errors';
import { chainHash, packText, unpackText } from '../../gateway/ledger/hash-chain';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { verifyLedger } from '../../gateway/ledger/verify';
import { HOUR, T0, batch, delta, event, meterBatch, rmDir, tmpDir } from './ledger-fixtures';

type Db = Database.Database;

let root: string;
let good: string;
let goodHead: { seq: number; hash: string };

/**
 * seq 1 policy, 2..6 meter batches (4 with a rollover event), 7 a voucher,
 * 8 an untariffed delta an hour later, 9 retention (readings of 1..3), 10 a meter batch.
 */
function buildGoodLedger(dir: string): void {
  const l = SqliteLedger.open(dir);
  l.recordPolicy(1, 'policy-hash-1', '[{"id":"tariff"}]', T0);
  for (let n = 1; n <= 5; n++) {
    const b = meterBatch(n);
    if (n === 3) b.events.push(event('rollover', b.atMs, { device: 'purifier-1', point: 'water', detail: { raw: '65535' } }));
    l.commitBatch(b);
  }
  l.recordVoucher({ channel: 'purifier-1>waterworks', seq: 1, amountNano: 60_000_000n, json: '{"v":1,"seq":1}', issuedAtMs: T0 + HOUR });
  l.commitBatch(batch(T0 + HOUR + 5000, { deltas: [delta('pump-1', 'energy', 'pump-1', 7_000_000n, T0 + HOUR, T0 + HOUR + 5000)] }));
  expect(l.pruneReadings(meterBatch(3).atMs)).toBe(2); // batches 1..3: the policy batch has no readings
  l.commitBatch(meterBatch(6));
  goodHead = l.head();
  expect(goodHead.seq).toBe(10);
  l.close(); // checkpoints the WAL into ledger.db
}

beforeAll(() => {
  root = tmpDir('m2m-ledger-verify-');
  good = path.join(root, 'good');
  buildGoodLedger(good);
});

afterAll(() => rmDir(root));

let copies = 0;
function tampered(edit: (db: Db) => void): string {
  const dir = path.join(root, `copy-${++copies}`);
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(good, 'ledger.db'), path.join(dir, 'ledger.db'));
  const db = new Database(path.join(dir, 'ledger.db'));
  try {
    edit(db);
  } finally {
    db.close();
  }
  return dir;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a chain body is free-form JSON the tests tamper with
function bodyOf(db: Db, seq: number): Record<string, any> {
  const row = db.prepare('SELECT body FROM batches WHERE seq = ?').get(seq) as { body: Buffer };
  return JSON.parse(unpackText(row.body));
}

function putBody(db: Db, seq: number, body: unknown, rehash: boolean): void {
  const text = canonicalize(body)!;
  db.prepare('UPDATE batches SET body = ? WHERE seq = ?').run(packText(text), seq);
  if (rehash) {
    const prev = (db.prepare('SELECT prev_hash FROM batches WHERE seq = ?').get(seq) as { prev_hash: string }).prev_hash;
    db.prepare('UPDATE batches SET hash = ? WHERE seq = ?').run(chainHash(prev, text), seq);
  }
}

/** Re-hash every batch from `from` on, as an attacker who edited a body would. */
function rehashFrom(db: Db, from: number): void {
  let prev = (db.prepare('SELECT hash FROM batches WHERE seq = ?').get(from - 1) as { hash: string }).hash;
  const rows = db.prepare('SELECT seq, body FROM batches WHERE seq >= ? ORDER BY seq').all(from) as Array<{ seq: number; body: Buffer }>;
  for (const r of rows) {
    const hash = chainHash(prev, unpackText(r.body));
    db.prepare('UPDATE batches SET prev_hash = ?, hash = ? WHERE seq = ?').run(prev, hash, r.seq);
    prev = hash;
  }
}

describe('verifyLedger', () => {
  it('verifies a good ledger (given the data directory or the file), pruned readings included', () => {
    const r = verifyLedger(good);
    expect(r).toEqual({ ok: true, batches: 10, head: goodHead });
    expect(verifyLedger(path.join(good, 'ledger.db'))).toEqual(r);
  });

  it('verifies while a store has the ledger open and keeps committing', () => {
    const dir = tampered(() => undefined);
    const l = SqliteLedger.open(dir);
    l.commitBatch(meterBatch(7));
    expect(verifyLedger(dir)).toMatchObject({ ok: true, batches: 11 });
    l.commitBatch(meterBatch(8));
    l.pruneReadings(meterBatch(8).atMs);
    expect(verifyLedger(dir)).toMatchObject({ ok: true, batches: 13 });
    l.close();
  });

  it('verifies event details with keys JS objects treat specially ("__proto__", array indexes)', () => {
    const dir = path.join(root, 'odd-keys');
    const l = SqliteLedger.open(dir);
    const detail = JSON.parse('{"__proto__":"p","10":1,"2":2,"b":null,"a":true}');
    l.commitBatch(batch(T0, { events: [event('odd', T0, { detail })] }));
    expect(l.events()[0].detail).toEqual(detail);
    expect(Object.keys(l.events()[0].detail)).toContain('__proto__');
    l.close();
    expect(verifyLedger(dir)).toMatchObject({ ok: true, batches: 1 });
  });

  it('throws LedgerOpenError for a missing file, reports a non-ledger database', () => {
    expect(() => verifyLedger(path.join(root, 'nope.db'))).toThrow(LedgerOpenError);
    const other = path.join(root, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x)');
    db.close();
    expect(verifyLedger(other)).toMatchObject({ ok: false, batches: 0, reason: expect.stringMatching(/not a ledger/) });
  });

  const cases: Array<[string, (db: Db) => void, RegExp, number | undefined]> = [
    [
      'an accrual amount changed in a body',
      (db) => {
        const b = bodyOf(db, 4);
        b.accruals[0].amountNano = '1';
        putBody(db, 4, b, false);
      },
      /batch 4: hash does not match its body/,
      4,
    ],
    [
      'a body changed and its own hash recomputed',
      (db) => {
        const b = bodyOf(db, 4);
        b.accruals[0].amountNano = '1';
        putBody(db, 4, b, true);
      },
      /batch 5: prev_hash does not match batch 4/,
      5,
    ],
    [
      'a body changed and the whole chain after it re-hashed',
      (db) => {
        const b = bodyOf(db, 4);
        b.accruals[0].amountNano = '1';
        putBody(db, 4, b, false);
        rehashFrom(db, 4);
      },
      /^totals row \(purifier-1, water, purifier-1, waterworks\) differs from the chain$/,
      undefined,
    ],
    ['a body replaced by garbage', (db) => db.prepare('UPDATE batches SET body = ? WHERE seq = 2').run(Buffer.from([0, 1, 2])), /batch 2: body cannot be decoded/, 2],
    ['a batch column edited', (db) => db.exec('UPDATE batches SET at_ms = at_ms + 1 WHERE seq = 4'), /batch 4: at_ms is/, 4],
    ['a batch deleted', (db) => db.exec('DELETE FROM batches WHERE seq = 5'), /batch 5 is missing/, 5],
    ['the newest batch deleted', (db) => db.exec('DELETE FROM batches WHERE seq = 10'), /^batch_readings: 1 rows belong to no batch$/, undefined],
    [
      'the newest batch deleted with its readings',
      (db) => db.exec('DELETE FROM batches WHERE seq = 10; DELETE FROM batch_readings WHERE batch_seq = 10'),
      /^totals row \(purifier-1, water, purifier-1, waterworks\) differs from the chain$/,
      undefined,
    ],
    [
      'a reading changed',
      (db) => {
        const row = db.prepare('SELECT data FROM batch_readings WHERE batch_seq = 5').get() as { data: Buffer };
        db.prepare('UPDATE batch_readings SET data = ? WHERE batch_seq = 5').run(packText(unpackText(row.data).replace('"6"', '"7"')));
      },
      /batch 5: readings do not match the body's digest/,
      5,
    ],
    ['readings deleted', (db) => db.exec('DELETE FROM batch_readings WHERE batch_seq = 5'), /batch 5: its 1 readings are missing/, 5],
    [
      'readings deleted behind a raised retention mark',
      (db) => {
        db.exec("UPDATE meta SET value = '6' WHERE key = 'readings_pruned_through_seq'");
        db.exec('DELETE FROM batch_readings WHERE batch_seq <= 6');
      },
      /readings are marked pruned through batch 6, the chain records 3/,
      4,
    ],
    ['readings added to a batch that has none', (db) => db.prepare('INSERT INTO batch_readings VALUES (8, 1, ?)').run(packText('[]')), /batch 8: readings do not match/, 8],
    ['an event detail edited', (db) => db.exec(`UPDATE events SET detail = '{"raw":"1"}' WHERE kind = 'rollover'`), /batch 4: event 0 does not match the body/, 4],
    ['an event deleted', (db) => db.exec(`DELETE FROM events WHERE kind = 'rollover'`), /batch 4: 0 event rows, the body has 1/, 4],
    ['an event inserted', (db) => db.exec(`INSERT INTO events (batch_seq, kind, ts_ms, detail) VALUES (99, 'alarm', 0, '{}')`), /events: 1 rows belong to no batch/, undefined],
    ['a total edited', (db) => db.exec(`UPDATE totals SET amount_nano = '1' WHERE payee = 'waterworks'`), /totals row .* differs from the chain/, undefined],
    ['a total deleted', (db) => db.exec(`DELETE FROM totals WHERE payee = ''`), /totals row \(pump-1, energy, pump-1, \) is missing/, undefined],
    [
      'an hourly bucket edited',
      (db) => db.exec(`UPDATE hourly SET quantity_micro = '0' WHERE hour_ms = ${T0}`),
      /^hourly buckets of \(purifier-1, water, purifier-1, waterworks\) differ from the chain$/,
      undefined,
    ],
    [
      'an hourly bucket moved to another hour',
      (db) => db.exec(`UPDATE hourly SET hour_ms = hour_ms + ${HOUR} WHERE device = 'pump-1'`),
      /^hourly buckets of \(pump-1, energy, pump-1, \) differ from the chain$/,
      undefined,
    ],
    ['an hourly bucket made non-numeric', (db) => db.exec(`UPDATE hourly SET amount_nano = 'x' WHERE device = 'pump-1'`), /hourly row .* not an integer/, undefined],
    ['an hourly bucket added', (db) => db.exec(`INSERT INTO hourly VALUES ('pump-1', 'energy', 'pump-1', '', 0, '5', '0')`), /^hourly buckets of \(pump-1, energy, pump-1, \) differ/, undefined],
    ['a channel accrual edited', (db) => db.exec(`UPDATE channels SET accrued_nano = '0'`), /channels row \(purifier-1>waterworks\) differs/, undefined],
    ['a voucher amount edited', (db) => db.exec(`UPDATE vouchers SET amount_nano = '999999999999'`), /^vouchers of purifier-1>waterworks differ from the chain$/, undefined],
    ['a voucher json edited', (db) => db.exec(`UPDATE vouchers SET json = '{"v":1,"seq":2}'`), /^vouchers of purifier-1>waterworks differ from the chain$/, undefined],
    ['a voucher deleted', (db) => db.exec('DELETE FROM vouchers'), /^vouchers of purifier-1>waterworks differ from the chain$/, undefined],
    ['a slot state edited', (db) => db.exec(`UPDATE slot_state SET last_raw = '1'`), /slot_state row \(purifier-1, water\) differs from the chain/, 10],
    ['an account state edited', (db) => db.exec(`UPDATE account_state SET unsettled_nano = '0'`), /account_state row \(purifier-1\) differs/, 10],
    ['a line state deleted', (db) => db.exec('DELETE FROM line_state'), /line_state row .* is missing/, 10],
    ['a policy edited', (db) => db.exec(`UPDATE policies SET flows_json = '[]'`), /policies row \(1\) differs from the chain/, 1],
  ];

  it.each(cases)('reports %s', (_name, edit, reason, firstBadSeq) => {
    const r = verifyLedger(tampered(edit));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(reason);
    expect(r.firstBadSeq).toBe(firstBadSeq);
    if (firstBadSeq !== undefined) expect(r.batches).toBeLessThan(firstBadSeq);
  });
});
