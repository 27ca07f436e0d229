/**
 * `verifyLedger`: a good ledger verifies; every kind of raw-SQL edit of a
 * copy of it is reported, with the first bad batch where the fault has one —
 * the chain, the lines and closed hours, channels, vouchers, policies, the
 * alarm state, and the packed device and account state against the head's
 * digests, and totals (closed + open hours) against what the chain accrued.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import canonicalize from 'canonicalize';
import { LedgerOpenError } from '../../gateway/ledger/errors';
import { DeviceState } from '../../gateway/ledger/device-state';
import { chainHash, packText, unpackText } from '../../gateway/ledger/hash-chain';
import { tableDigests } from '../../gateway/ledger/state-digest';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { verifyLedger } from '../../gateway/ledger/verify';
import { HOUR, T0, batch, delta, event, meterBatch, rmDir, tmpDir } from './ledger-fixtures';

type Db = Database.Database;

let root: string;
let good: string;
let goodHead: { seq: number; hash: string };

/**
 * seq 1 policy, 2..6 meter batches (4 with a rollover event), 7 a voucher
 * an hour later (it closes the 10:00 hour),
 * 8 an untariffed delta an hour later, 9 an
 * alarm, 10 a meter batch of 10:06 (a late reading into the closed hour),
 * 11 the pump's next delta (its 11:00 hour stays open).
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
  l.commitBatch(
    batch(T0 + HOUR + 6000, {
      events: [event('alarm', T0 + HOUR + 6000, { device: 'purifier-1', point: 'cartridge', detail: { policy: 'low', value: '4' } })],
    }),
  );
  l.commitBatch({ ...meterBatch(6), atMs: T0 + HOUR + 7000 });
  l.commitBatch(batch(T0 + HOUR + 8000, { deltas: [delta('pump-1', 'energy', 'pump-1', 1_000_000n, T0 + HOUR + 5000, T0 + HOUR + 8000)] }));
  goodHead = l.head();
  expect(goodHead.seq).toBe(11);
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

/** Rewrite one device's packed state (decoded, changed, encoded again). */
function editDevice(db: Db, device: string, change: (d: DeviceState) => void): void {
  const r = db
    .prepare('SELECT l.id, l.layout, s.data FROM device_layout l JOIN device_state s ON s.id = l.id WHERE l.device = ?')
    .get(device) as { id: number; layout: string; data: Buffer };
  const d = DeviceState.decode(device, r.layout, r.data);
  change(d);
  db.prepare('UPDATE device_state SET data = ? WHERE id = ?').run(d.encode(), r.id);
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
  it('verifies a good ledger (given the data directory or the file)', () => {
    const r = verifyLedger(good);
    expect(r).toEqual({ ok: true, batches: 11, head: goodHead, lines: 2 });
    expect(verifyLedger(path.join(good, 'ledger.db'))).toEqual(r);
  });

  it('verifies while a store has the ledger open and keeps committing', () => {
    const dir = tampered(() => undefined);
    const l = SqliteLedger.open(dir);
    l.commitBatch({ ...meterBatch(7), atMs: T0 + 2 * HOUR });
    expect(verifyLedger(dir)).toMatchObject({ ok: true, batches: 12 });
    l.commitBatch({ ...meterBatch(8), atMs: T0 + 3 * HOUR });
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
      'a closed hour changed in a body',
      (db) => {
        const b = bodyOf(db, 7);
        b.closed[0][3] = '1';
        putBody(db, 7, b, false);
      },
      /batch 7: hash does not match its body/,
      7,
    ],
    [
      'a body changed and its own hash recomputed',
      (db) => {
        const b = bodyOf(db, 7);
        b.closed[0][3] = '1';
        putBody(db, 7, b, true);
      },
      /batch 8: prev_hash does not match batch 7/,
      8,
    ],
    [
      'a body changed and the whole chain after it re-hashed',
      (db) => {
        const b = bodyOf(db, 7);
        b.closed[0][3] = '1';
        putBody(db, 7, b, false);
        rehashFrom(db, 7);
      },
      /^totals of line \(purifier-1, water, purifier-1, waterworks\) differ from the chain$/,
      undefined,
    ],
    [
      'what a commit accrued changed and the chain re-hashed',
      (db) => {
        const b = bodyOf(db, 11);
        b.accrued.quantityMicro = '2000000';
        putBody(db, 11, b, false);
        rehashFrom(db, 11);
      },
      /^totals \(closed hours \+ open hours: .*\) differ from what the chain accrued/,
      undefined,
    ],
    [
      'an open hour changed, the head digest updated and the chain re-hashed',
      (db) => {
        editDevice(db, 'pump-1', (d) => {
          const o = [...d.open.values()].find((x) => x !== null)!;
          o.quantityMicro += 1n;
        });
        const b = bodyOf(db, 11);
        b.state = tableDigests(db);
        putBody(db, 11, b, false);
        rehashFrom(db, 11);
      },
      /^totals \(closed hours \+ open hours: 17000001 µ, .*\) differ from what the chain accrued \(17000000 µ/,
      undefined,
    ],
    [
      'a body replaced by garbage',
      (db) => db.prepare('UPDATE batches SET body = ? WHERE seq = 2').run(Buffer.from([0, 1, 2])),
      /batch 2: body cannot be decoded/,
      2,
    ],
    ['a batch column edited', (db) => db.exec('UPDATE batches SET at_ms = at_ms + 1 WHERE seq = 4'), /batch 4: at_ms is/, 4],
    [
      'a metered count edited',
      (db) => db.exec('UPDATE batches SET n_readings = 7 WHERE seq = 4'),
      /batch 4: n_readings is 7, the body says 1/,
      4,
    ],
    ['a batch deleted', (db) => db.exec('DELETE FROM batches WHERE seq = 5'), /batch 5 is missing/, 5],
    [
      'the newest batch deleted',
      (db) => db.exec('DELETE FROM batches WHERE seq = 11'),
      /^device state differs from the digest of the head commit$/,
      undefined,
    ],
    [
      'an event detail edited',
      (db) => db.exec(`UPDATE events SET detail = '{"raw":"1"}' WHERE kind = 'rollover'`),
      /batch 4: event 0 does not match the body/,
      4,
    ],
    ['an event deleted', (db) => db.exec(`DELETE FROM events WHERE kind = 'rollover'`), /batch 4: 0 event rows, the body has 1/, 4],
    [
      'an event inserted',
      (db) => db.exec(`INSERT INTO events (batch_seq, kind, ts_ms, detail) VALUES (99, 'alarm', 0, '{}')`),
      /events: 1 rows belong to no batch/,
      undefined,
    ],
    [
      'a line total edited',
      (db) => db.exec(`UPDATE lines SET amount_nano = '1' WHERE payee = 'waterworks'`),
      /^totals of line \(purifier-1, water, purifier-1, waterworks\) differ from the chain$/,
      undefined,
    ],
    [
      "a line's latest closed hour edited",
      (db) => db.exec(`UPDATE lines SET last_hour_ms = 0 WHERE payee = 'waterworks'`),
      /^the latest closed hour of line \(purifier-1, water, purifier-1, waterworks\) differs from the chain$/,
      undefined,
    ],
    [
      'a line deleted',
      (db) => db.exec(`DELETE FROM lines WHERE payee = ''`),
      /^line 2 \(pump-1, energy, pump-1, \) is missing$/,
      undefined,
    ],
    [
      'a line renamed',
      (db) => db.exec(`UPDATE lines SET device = 'pump-2' WHERE payee = ''`),
      /^lines row 2 \(pump-2, energy, pump-1, \) is not declared in the chain$/,
      undefined,
    ],
    [
      'a closed hour edited',
      (db) => db.exec(`UPDATE hours SET quantity_micro = '0' WHERE hour_ms = ${T0}`),
      /^hourly aggregates of \(purifier-1, water, purifier-1, waterworks\) differ from the chain$/,
      undefined,
    ],
    [
      'a closed hour moved to another hour',
      (db) => db.exec(`UPDATE hours SET hour_ms = hour_ms + ${HOUR}`),
      /^hourly aggregates of \(purifier-1, water, purifier-1, waterworks\) differ from the chain$/,
      undefined,
    ],
    ['a closed hour made non-numeric', (db) => db.exec(`UPDATE hours SET amount_nano = 'x'`), /hours row .* not an integer/, undefined],
    [
      'a closed hour added',
      (db) => db.exec(`INSERT INTO hours VALUES (0, 2, '5', '0')`),
      /^hourly aggregates of \(pump-1, energy, pump-1, \) differ/,
      undefined,
    ],
    [
      'a closed hour of no line',
      (db) => db.exec(`INSERT INTO hours VALUES (0, 99, '5', '0')`),
      /an hours row \(0\) belongs to no line/,
      undefined,
    ],
    [
      'a channel accrual edited',
      (db) => db.exec(`UPDATE channels SET accrued_nano = '0'`),
      /channels row \(purifier-1>waterworks\) differs/,
      undefined,
    ],
    [
      'a voucher amount edited',
      (db) => db.exec(`UPDATE vouchers SET amount_nano = '999999999999'`),
      /^vouchers of purifier-1>waterworks differ from the chain$/,
      undefined,
    ],
    [
      'a voucher moved to another batch (its signed JSON is only in the body of its own)',
      (db) => db.exec(`UPDATE vouchers SET batch_seq = 1`),
      /^vouchers of purifier-1>waterworks differ from the chain$/,
      undefined,
    ],
    [
      'a voucher issue time edited',
      (db) => db.exec(`UPDATE vouchers SET issued_at_ms = issued_at_ms - 1`),
      /^vouchers of purifier-1>waterworks differ from the chain$/,
      undefined,
    ],
    ['a voucher deleted', (db) => db.exec('DELETE FROM vouchers'), /^vouchers of purifier-1>waterworks differ from the chain$/, undefined],
    [
      'a slot state edited',
      (db) => editDevice(db, 'purifier-1', (d) => (d.slots.get('water')!.lastRaw = 1n)),
      /^device state differs from the digest of the head commit$/,
      undefined,
    ],
    [
      'a remainder edited',
      (db) => editDevice(db, 'purifier-1', (d) => (d.remainders[0]!.remainder += 1n)),
      /^device state differs from the digest of the head commit$/,
      undefined,
    ],
    [
      'a device layout edited',
      (db) => db.exec(`UPDATE device_layout SET layout = replace(layout, 'water', 'wine')`),
      /^device state differs from the digest of the head commit$/,
      undefined,
    ],
    [
      'a device state deleted',
      (db) => db.exec(`DELETE FROM device_state WHERE id = 1`),
      /^device state differs from the digest of the head commit$/,
      undefined,
    ],
    [
      'an account state edited',
      (db) => db.exec(`UPDATE account_state SET unsettled_nano = '0'`),
      /^account state differs from the digest of the head commit$/,
      undefined,
    ],
    ['a raised alarm deleted', (db) => db.exec('DELETE FROM alarm_state'), /alarm_state differs from the chain's alarm events/, undefined],
    [
      'an alarm raised behind the chain',
      (db) => db.exec(`INSERT INTO alarm_state VALUES ('high', 'pump-1', 'p', 0)`),
      /alarm_state differs/,
      undefined,
    ],
    ['a policy edited', (db) => db.exec(`UPDATE policies SET flows_json = '[]'`), /policies row \(1\) differs from the chain/, undefined],
  ];

  it.each(cases)('reports %s', (_name, edit, reason, firstBadSeq) => {
    const r = verifyLedger(tampered(edit));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(reason);
    expect(r.firstBadSeq).toBe(firstBadSeq);
    if (firstBadSeq !== undefined) expect(r.batches).toBeLessThan(firstBadSeq);
  });
});
