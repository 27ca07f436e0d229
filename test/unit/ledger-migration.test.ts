/**
 * A v1 ledger (schema 1, written by the frozen v1 writer: every reading,
 * delta and accrual kept) migrates on the first open without losing a nano:
 * it is backed up first (ledger.db.v1.bak), then its totals and hours, channels,
 * vouchers with their seqs, events, policies, core state and raised alarms
 * are what the v1 tables said, the chain goes on from the v1 head and
 * verifies, the metering service resumes from the v1 raw values, and a
 * ledger v1 cannot migrate leaves as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ReferenceCore } from '../../gateway/core/reference';
import { LedgerSchemaError } from '../../gateway/ledger/errors';
import { chainHash } from '../../gateway/ledger/hash-chain';
import { SCHEMA_VERSION, schemaVersion } from '../../gateway/ledger/schema';
import { LEDGER_FILE, SqliteLedger } from '../../gateway/ledger/sqlite-store';
import type { LedgerTotal } from '../../gateway/ledger/store';
import { verifyLedger } from '../../gateway/ledger/verify';
import { V1LedgerWriter, v1Batch } from '../fixtures/ledger-v1-writer';
import { HOUR, I64_MAX, T0, U64_MAX, rmDir, tmpDir } from './ledger-fixtures';
import { meterRig } from './meter-fixtures';

const MIN = 60_000;
const CH = 'purifier-1>waterworks';

/** Today's (v1) daemon at work: ToU splits over several hours, untariffed and 64-bit counters, a held jump, sums beyond i64, vouchers, 11 001 alarm events, a retention step, two policies. */
function buildV1(dir: string): void {
  const v1 = V1LedgerWriter.open(dir);
  v1.recordPolicy(1, 'p1', '[{"id":"tariff"}]', T0);
  for (let n = 1; n <= 8; n++) {
    const toMs = T0 + n * 20 * MIN;
    const fromMs = toMs - 20 * MIN;
    const mid = fromMs + 7 * MIN;
    const acc = (qty: bigint, amount: bigint, from: number, to: number, price: bigint) => ({
      device: 'purifier-1',
      point: 'water',
      account: 'purifier-1',
      payee: 'waterworks',
      channel: CH,
      qtyMicro: qty,
      amountNano: amount,
      priceNano: price,
      fromMs: from,
      toMs: to,
      policyVersion: 1,
    });
    v1.commitBatch(
      v1Batch(toMs + 5, {
        readings: [
          { device: 'purifier-1', point: 'water', tsMs: toMs, value: String(n * 15) },
          { device: 'pump-1', point: 'energy', tsMs: toMs, value: String(n) },
        ],
        deltas: [
          { device: 'purifier-1', point: 'water', account: 'purifier-1', qtyMicro: 15_000_000n, fromMs, toMs },
          { device: 'pump-1', point: 'energy', account: 'pump-1', qtyMicro: 1_000_000n + BigInt(n), fromMs, toMs },
        ],
        accruals: [acc(5_250_000n, 6_481_480n + BigInt(n), fromMs, mid, 1_234_567n), acc(9_750_000n, 19_500_000n, mid, toMs, 2_000_000n)],
        events: n === 3 ? [{ kind: 'rollover', device: 'pump-1', point: 'energy', tsMs: toMs, detail: { raw: '3' } }] : [],
        state: {
          slots: [
            {
              device: 'purifier-1',
              point: 'water',
              hasBaseline: true,
              lastRaw: BigInt(n * 15),
              lastTsMs: toMs,
              heldRaw: null,
              heldTsMs: 0,
            },
            {
              device: 'pump-1',
              point: 'energy',
              hasBaseline: true,
              lastRaw: U64_MAX - BigInt(n),
              lastTsMs: toMs,
              heldRaw: n === 8 ? 12n : null,
              heldTsMs: n === 8 ? toMs + 1 : 0,
            },
          ],
          lines: [
            {
              device: 'purifier-1',
              point: 'water',
              account: 'purifier-1',
              payee: 'waterworks',
              remainder: BigInt((n * 123_457) % 1_000_000),
            },
          ],
          accounts: [{ account: 'purifier-1', unsettledNano: BigInt(n) * 25_981_480n, overLimit: n > 5 }],
        },
      }),
    );
    if (n % 3 === 0)
      v1.recordVoucher({
        channel: CH,
        seq: n / 3,
        amountNano: BigInt(n) * 20_000_000n,
        json: JSON.stringify({ seq: n / 3 }),
        issuedAtMs: toMs + 10,
      });
  }
  // sums beyond i64 on another line
  for (let n = 0; n < 3; n++) {
    v1.commitBatch(
      v1Batch(T0 + 4 * HOUR + n, {
        deltas: [{ device: 'big-1', point: 'x', account: 'big-1', qtyMicro: I64_MAX, fromMs: T0 + 4 * HOUR - 1, toMs: T0 + 4 * HOUR }],
        accruals: [
          {
            device: 'big-1',
            point: 'x',
            account: 'big-1',
            payee: 'bank',
            channel: 'big-1>bank',
            qtyMicro: I64_MAX,
            amountNano: I64_MAX,
            priceNano: 1_000_000n,
            fromMs: T0 + 4 * HOUR - 1,
            toMs: T0 + 4 * HOUR,
            policyVersion: 1,
          },
        ],
      }),
    );
  }
  // 11 001 alarm events (more than the 10 000 the v1 daemon looked back at): purifier-1 ends raised, pump-1 cleared
  const alarm = (kind: string, policy: string, device: string, t: number) => ({
    kind,
    device,
    point: 'cartridge',
    tsMs: t,
    detail: { policy, value: '5' },
  });
  for (let round = 0; round < 11; round++) {
    const events = [];
    for (let i = 0; i < 500; i++)
      events.push(
        alarm('alarm', 'low', 'purifier-1', T0 + round * 1000 + 2 * i),
        alarm('alarm-clear', 'low', 'purifier-1', T0 + round * 1000 + 2 * i + 1),
      );
    v1.commitBatch(v1Batch(T0 + 5 * HOUR + round, { events }));
  }
  v1.commitBatch(
    v1Batch(T0 + 5 * HOUR + 20, {
      events: [
        alarm('alarm', 'low', 'purifier-1', T0 + 5 * HOUR + 20),
        alarm('alarm', 'high', 'pump-1', T0 + 5 * HOUR + 20),
        alarm('alarm-clear', 'high', 'pump-1', T0 + 5 * HOUR + 21),
      ],
    }),
  );
  expect(v1.pruneReadings(T0 + 2 * HOUR, T0 + 6 * HOUR)).toBeGreaterThan(0);
  v1.recordPolicy(2, 'p2', '[]', T0 + 6 * HOUR);
  v1.close();
}

interface V1View {
  head: { seq: number; hash: string };
  totals: LedgerTotal[];
  hourly: Map<number, LedgerTotal[]>;
  channels: unknown[];
  vouchers: unknown[];
  events: unknown[];
  slots: unknown[];
  lines: unknown[];
  accounts: unknown[];
  readings: number;
}

/** What the v1 tables hold, read with plain SQL. */
function readV1(file: string): V1View {
  const db = new Database(file, { readonly: true });
  try {
    type Row = Record<string, string & number>;
    const total = (r: Row): LedgerTotal => ({
      device: r.device,
      point: r.point,
      account: r.account,
      payee: r.payee,
      quantityMicro: BigInt(r.quantity_micro),
      amountNano: BigInt(r.amount_nano),
    });
    const hourly = new Map<number, LedgerTotal[]>();
    for (const r of db.prepare('SELECT * FROM hourly ORDER BY hour_ms, device, point, account, payee').all() as Row[]) {
      hourly.set(r.hour_ms, [...(hourly.get(r.hour_ms) ?? []), total(r)]);
    }
    return {
      head: db.prepare('SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string },
      totals: (db.prepare('SELECT * FROM totals ORDER BY device, point, account, payee').all() as Row[]).map(total),
      hourly,
      channels: (db.prepare('SELECT * FROM channels ORDER BY channel').all() as Row[]).map((c) => ({
        channel: c.channel,
        payer: c.payer,
        payee: c.payee,
        accruedNano: BigInt(c.accrued_nano),
        voucheredNano: BigInt(c.vouchered_nano),
        lastSeq: c.last_seq,
      })),
      vouchers: (db.prepare('SELECT * FROM vouchers ORDER BY channel, seq').all() as Row[]).map((v) => ({
        channel: v.channel,
        seq: v.seq,
        amountNano: BigInt(v.amount_nano),
        json: v.json,
        issuedAtMs: v.issued_at_ms,
        batchSeq: v.batch_seq,
      })),
      events: (db.prepare('SELECT * FROM events ORDER BY id').all() as Row[]).map((e) => ({
        id: e.id,
        batchSeq: e.batch_seq,
        kind: e.kind,
        tsMs: e.ts_ms,
        detail: JSON.parse(e.detail),
      })),
      slots: (db.prepare('SELECT * FROM slot_state ORDER BY device, point').all() as Row[]).map((s) => ({
        device: s.device,
        point: s.point,
        hasBaseline: s.has_baseline === 1,
        lastRaw: BigInt(s.last_raw),
        lastTsMs: s.last_ts_ms,
        heldRaw: s.held_raw === null ? null : BigInt(s.held_raw),
        heldTsMs: s.held_ts_ms,
      })),
      lines: (db.prepare('SELECT * FROM line_state ORDER BY device, point, account, payee').all() as Row[]).map((l) => ({
        device: l.device,
        point: l.point,
        account: l.account,
        payee: l.payee,
        remainder: BigInt(l.remainder),
      })),
      accounts: (db.prepare('SELECT * FROM account_state ORDER BY account').all() as Row[]).map((a) => ({
        account: a.account,
        unsettledNano: BigInt(a.unsettled_nano),
        overLimit: a.over_limit === 1,
      })),
      readings: (db.prepare('SELECT coalesce(sum(n_readings), 0) AS n FROM batch_readings').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

let template: string;
let root: string;
beforeAll(() => {
  template = tmpDir('m2m-ledger-v1-');
  buildV1(template);
});
afterAll(() => rmDir(template));
beforeEach(() => {
  root = tmpDir('m2m-ledger-migration-');
  fs.copyFileSync(path.join(template, LEDGER_FILE), path.join(root, LEDGER_FILE)); // closed: the WAL is in it
});
afterEach(() => rmDir(root));

describe('migrating a v1 ledger', () => {
  it('backs up, then carries every total, hour, channel, voucher seq, event, policy, state and raised alarm over; the chain goes on and verifies', () => {
    const file = path.join(root, LEDGER_FILE);
    const before = readV1(file);
    expect(before.readings).toBeGreaterThan(0);
    const migratedAt = T0 + 7 * HOUR;
    const l = SqliteLedger.open(root, { nowMs: () => migratedAt });
    try {
      // The backup is the v1 ledger as it was.
      const bak = new Database(`${file}.v1.bak`, { readonly: true });
      expect(schemaVersion(bak)).toBe(1);
      expect(bak.prepare('SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1').get()).toEqual(before.head);
      bak.close();
      expect(fs.statSync(`${file}.v1.bak`).mode & 0o777).toBe(0o600);

      expect(l.ledgerTotals()).toEqual(before.totals);
      expect(l.ledgerTotals().find((t) => t.device === 'big-1')?.amountNano).toBe(3n * I64_MAX);
      for (const [hour, rows] of before.hourly) expect([hour, l.ledgerTotals({ fromMs: hour, toMs: hour + HOUR })]).toEqual([hour, rows]);
      expect(l.channels()).toEqual(before.channels);
      expect(l.vouchers()).toEqual(before.vouchers);
      expect(l.loadState()).toEqual({ slots: before.slots, lines: before.lines, accounts: before.accounts });
      expect(l.accounts()).toEqual([
        { account: 'big-1', unsettledNano: 0n, voucheredNano: 0n },
        { account: 'purifier-1', unsettledNano: 8n * 25_981_480n, voucheredNano: 6n * 20_000_000n }, // the latest voucher, seq 2
      ]);
      expect(l.latestPolicy()).toMatchObject({ version: 2, hash: 'p2' });
      expect(l.activeAlarms()).toEqual([{ policy: 'low', device: 'purifier-1', point: 'cartridge', sinceMs: T0 + 5 * HOUR + 20 }]);

      // The chain goes on from the v1 head with one migration commit and its event.
      const all = l.events({ limit: 100_000 }).sort((a, b) => a.id - b.id);
      expect(
        all.slice(0, before.events.length).map((e) => ({ id: e.id, batchSeq: e.batchSeq, kind: e.kind, tsMs: e.tsMs, detail: e.detail })),
      ).toEqual(before.events);
      expect(all.slice(before.events.length)).toEqual([
        expect.objectContaining({
          kind: 'ledger-migrated',
          batchSeq: before.head.seq + 1,
          detail: { fromSchema: 1, readingsDropped: before.readings, throughSeq: before.head.seq, backup: 'ledger.db.v1.bak' },
        }),
      ]);
      const head = l.head();
      expect(head.seq).toBe(before.head.seq + 1);
      const body = l.body(head.seq)!;
      expect(head.hash).toBe(chainHash(before.head.hash, body));
      expect(JSON.parse(body)).toMatchObject({ v: 2, migration: { fromSchema: 1, throughSeq: before.head.seq }, atMs: migratedAt });
      expect(JSON.parse(body).lines).toHaveLength(before.totals.length);
    } finally {
      l.close();
    }
    expect(verifyLedger(root)).toEqual({
      ok: true,
      batches: before.head.seq + 1,
      head: expect.objectContaining({ seq: before.head.seq + 1 }),
      lines: before.totals.length,
    });

    // Opening again changes nothing; the v1 tables are gone.
    const again = SqliteLedger.open(root);
    expect(again.head().seq).toBe(before.head.seq + 1);
    again.close();
    const db = new Database(file, { readonly: true });
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(
      db.prepare("SELECT name FROM sqlite_master WHERE name IN ('batch_readings', 'totals', 'hourly', 'slot_state', 'line_state')").all(),
    ).toEqual([]);
    db.close();
  });

  it('goes on where v1 stopped: the next voucher seq, a reading into a v1 hour, metering from the v1 raw value', () => {
    const before = readV1(path.join(root, LEDGER_FILE));
    const l = SqliteLedger.open(root);
    try {
      expect(() => l.recordVoucher({ channel: CH, seq: 2, amountNano: 999_000_000n, json: '{}', issuedAtMs: T0 + 8 * HOUR })).toThrow(
        /not above the last seq 2/,
      );
      l.recordVoucher({ channel: CH, seq: 3, amountNano: 160_000_000n, json: '{"seq":3}', issuedAtMs: T0 + 8 * HOUR });
      // a late reading of an hour v1 already holds adds to it
      const hour = T0 + HOUR;
      const old = before.hourly.get(hour)!.find((t) => t.point === 'water')!;
      l.commitBatch({
        atMs: T0 + 8 * HOUR,
        policyVersion: 2,
        usage: [
          {
            device: 'purifier-1',
            point: 'water',
            account: 'purifier-1',
            payee: 'waterworks',
            hourMs: hour,
            quantityMicro: 1n,
            amountNano: 2n,
          },
        ],
        events: [],
        state: { slots: [], lines: [], accounts: [] },
      });
      expect(l.ledgerTotals({ fromMs: hour, toMs: hour + HOUR, point: 'water' })).toEqual([
        { ...old, quantityMicro: old.quantityMicro + 1n, amountNano: old.amountNano + 2n },
      ]);

      // The metering service resumes from the v1 raw value: what the meter counted since bills once.
      const rig = meterRig(
        new ReferenceCore(),
        l,
        {
          devices: { 'purifier-1': ['water'] },
          tariffs: [{ device: 'purifier-1', point: 'water', payee: 'waterworks', priceNano: 1_000_000_000n }],
        },
        { commitMs: 60_000 },
      );
      const lastV1 = before.slots.find((s) => (s as { device: string }).device === 'purifier-1') as { lastRaw: bigint; lastTsMs: number };
      rig.metering.ingest([{ device: 'purifier-1', point: 'water', tsMs: lastV1.lastTsMs + 60_000, value: '130', counterRaw: 130n }]);
      rig.metering.stop();
      const water = l.ledgerTotals({ point: 'water' })[0]!;
      const v1Water = before.totals.find((t) => t.point === 'water')!;
      expect(water.quantityMicro - v1Water.quantityMicro - 1n).toBe((130n - lastV1.lastRaw) * 1_000_000n);
    } finally {
      l.close();
    }
    expect(verifyLedger(root)).toMatchObject({ ok: true });
  });

  it('leaves a v1 ledger it cannot migrate as it was (the backup made), and says why', () => {
    const file = path.join(root, LEDGER_FILE);
    const db = new Database(file);
    db.exec(`INSERT INTO hourly VALUES ('ghost', 'p', 'a', '', ${T0}, '1', '0')`); // an hour without its total: v1 never wrote one
    db.close();
    const before = readV1(file);
    expect(() => SqliteLedger.open(root)).toThrow(LedgerSchemaError);
    expect(fs.existsSync(`${file}.v1.bak`)).toBe(true);
    const after = new Database(file, { readonly: true });
    expect(schemaVersion(after)).toBe(1);
    after.close();
    expect(readV1(file)).toEqual(before);
  });
});
