/**
 * The contract every LedgerStore implementation must meet (MQTT.js
 * abstract_store style): call `ledgerContract(name, factory)` from a test
 * file; each test gets a fresh, empty store from `factory.open()`.
 *
 * The ledger keeps money, not readings (docs/ledger.md): a commit's body is
 * compact (state digests, sums, the rare things in full), totals are closed
 * hours plus the open hour, alarm state is kept, reading history is bounded.
 */
import canonicalize from 'canonicalize';
import { hourWindow } from '../../gateway/ledger/batch-aggregates';
import { LedgerBatchError, LedgerClosedError, LedgerPolicyError, LedgerQueryError, LedgerVoucherError } from '../../gateway/ledger/errors';
import { type CommitBody, GENESIS_HASH, chainHash } from '../../gateway/ledger/hash-chain';
import type { LedgerBatch, LedgerSample, LedgerStore } from '../../gateway/ledger/store';
import { HOUR, I64_MAX, T0, U64_MAX, accrual, batch, delta, event, meterBatch, usage } from './ledger-fixtures';

export interface LedgerFactory {
  open(): LedgerStore;
  /** Called after each test with the store it opened (closed or not). */
  dispose?(store: LedgerStore): void;
}

export function ledgerContract(name: string, factory: LedgerFactory): void {
  describe(`LedgerStore contract: ${name}`, () => {
    let store: LedgerStore;
    const opened: LedgerStore[] = [];
    const open = (): LedgerStore => {
      const s = factory.open();
      opened.push(s);
      return s;
    };
    beforeEach(() => {
      store = open();
    });
    afterEach(() => {
      for (const s of opened.splice(0)) {
        s.close();
        factory.dispose?.(s);
      }
    });

    it('starts empty at the genesis head', () => {
      expect(store.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
      expect(GENESIS_HASH).toBe('0'.repeat(64));
      expect(store.loadState()).toEqual({ slots: [], lines: [], accounts: [] });
      expect(store.ledgerTotals()).toEqual([]);
      expect(store.accounts()).toEqual([]);
      expect(store.channels()).toEqual([]);
      expect(store.vouchers()).toEqual([]);
      expect(store.events()).toEqual([]);
      expect(store.latestPolicy()).toBeNull();
      expect(store.activeAlarms()).toEqual([]);
      expect(store.history()).toEqual([]);
      expect(store.body(1)).toBeNull();
    });

    it('chains batches: seq from 1, hash = sha256(prev hash bytes ‖ canonical body)', () => {
      const c1 = store.commitBatch(meterBatch(1));
      const c2 = store.commitBatch(meterBatch(2));
      expect(c1.seq).toBe(1);
      expect(c2.seq).toBe(2);
      expect(c1.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(store.head()).toEqual(c2);
      const body1 = store.body(1)!;
      expect(body1).toBe(canonicalize(JSON.parse(body1)));
      expect(c1.hash).toBe(chainHash(GENESIS_HASH, body1));
      expect(c2.hash).toBe(chainHash(c1.hash, store.body(2)!));
      expect(JSON.parse(body1)).toMatchObject({ v: 2, seq: 1, atMs: meterBatch(1).atMs, policyVersion: 1 });
    });

    it('keeps money, not readings: a body holds state digests and sums, its size does not grow with what it summarises', () => {
      const few = meterBatch(1, { qty: 1_000_000n, amount: 7n });
      const many = {
        ...meterBatch(2, { qty: 9_000_000_000n, amount: 63_000n }),
        metered: { readings: 900_000, deltas: 900_000, accruals: 900_000 },
      };
      store.commitBatch(few);
      store.commitBatch(many);
      const b1 = JSON.parse(store.body(1)!) as CommitBody;
      const b2 = JSON.parse(store.body(2)!) as CommitBody;
      expect(b2.metered).toEqual({ readings: 900_000, deltas: 900_000, accruals: 900_000 });
      expect(b2.accrued).toEqual({ quantityMicro: '9000000000', amountNano: '63000' });
      expect(b2.state.devices).toMatch(/^[0-9a-f]{64}$/);
      expect(b2.state.accounts).toMatch(/^[0-9a-f]{64}$/);
      expect(b2.state.devices).not.toBe(b1.state.devices); // the slot and remainder moved
      expect(b1.lines).toEqual([[1, 'purifier-1', 'water', 'purifier-1', 'waterworks']]); // declared once, when new
      expect(b2.lines).toEqual([]);
      expect(Math.abs(store.body(2)!.length - store.body(1)!.length)).toBeLessThan(40);
      expect(b2).not.toHaveProperty('deltas');
      expect(b2).not.toHaveProperty('accruals');
      expect(b2).not.toHaveProperty('readings');
    });

    it('records events, vouchers and policies in full in the body', () => {
      store.recordPolicy(1, 'h1', '[{"id":"flow"}]', T0);
      store.commitBatch(
        batch(T0 + 1, { events: [event('alarm', T0 + 1, { device: 'd', point: 'p', detail: { policy: 'n1', value: '3' } })] }),
      );
      store.recordVoucher({ channel: 'a>b', seq: 1, amountNano: 5n, json: '{"seq":1}', issuedAtMs: T0 + 2 });
      expect(JSON.parse(store.body(1)!)).toMatchObject({
        policy: { version: 1, hash: 'h1', flowsJson: '[{"id":"flow"}]' },
        events: [{ kind: 'policy-change' }],
      });
      expect(JSON.parse(store.body(2)!).events).toEqual([
        { kind: 'alarm', device: 'd', point: 'p', tsMs: T0 + 1, detail: { policy: 'n1', value: '3' } },
      ]);
      expect(JSON.parse(store.body(3)!).vouchers).toEqual([
        { channel: 'a>b', seq: 1, amountNano: '5', json: '{"seq":1}', issuedAtMs: T0 + 2 },
      ]);
    });

    it('gives the same hashes for the same batches, whatever the key order of event details', () => {
      const other = open();
      const a = batch(T0, { events: [event('alarm', T0, { device: 'd', detail: { b: 1, a: 'x', z: null, '10': true, '2': false } })] });
      const b = batch(T0, { events: [event('alarm', T0, { device: 'd', detail: { '2': false, z: null, a: 'x', '10': true, b: 1 } })] });
      expect(store.commitBatch(a)).toEqual(other.commitBatch(b));
      const c = meterBatch(3);
      expect(store.commitBatch(c)).toEqual(other.commitBatch(meterBatch(3)));
    });

    it('totals accruals per (device, point, account, payee) and untariffed deltas under payee ""', () => {
      const t = T0 + 5 * 60_000;
      store.commitBatch(
        batch(t, {
          deltas: [
            delta('pump-1', 'energy', 'pump-1', 2_000_000n, T0, t), // no accrual: untariffed
            delta('purifier-1', 'water', 'purifier-1', 3_000_000n, T0, t),
          ],
          accruals: [
            // a time-of-use split of the purifier delta, on two payees
            accrual('purifier-1', 'water', 'purifier-1', 'waterworks', 1_000_000n, 10n, T0, T0 + 60_000),
            accrual('purifier-1', 'water', 'purifier-1', 'waterworks', 2_000_000n, 40n, T0 + 60_000, t),
            accrual('purifier-1', 'water', 'purifier-1', 'service', 3_000_000n, 7n, T0, t),
          ],
        }),
      );
      store.commitBatch(batch(t + 1000, { deltas: [delta('pump-1', 'energy', 'pump-1', 500_000n, t, t + 1000)] }));
      expect(store.ledgerTotals()).toEqual([
        { device: 'pump-1', point: 'energy', account: 'pump-1', payee: '', quantityMicro: 2_500_000n, amountNano: 0n },
        { device: 'purifier-1', point: 'water', account: 'purifier-1', payee: 'service', quantityMicro: 3_000_000n, amountNano: 7n },
        { device: 'purifier-1', point: 'water', account: 'purifier-1', payee: 'waterworks', quantityMicro: 3_000_000n, amountNano: 50n },
      ]);
      expect(store.ledgerTotals({ device: 'pump-1' })).toHaveLength(1);
      expect(store.ledgerTotals({ device: 'purifier-1', point: 'water' })).toHaveLength(2);
      expect(store.ledgerTotals({ point: 'nothing' })).toEqual([]);
    });

    it('sums amounts and quantities beyond i64 exactly', () => {
      for (let n = 1; n <= 3; n++) store.commitBatch(meterBatch(n, { qty: I64_MAX, amount: I64_MAX }));
      const [all] = store.ledgerTotals();
      expect(all.amountNano).toBe(3n * I64_MAX);
      expect(all.quantityMicro).toBe(3n * I64_MAX);
      const [win] = store.ledgerTotals({ fromMs: T0, toMs: T0 + HOUR });
      expect(win.amountNano).toBe(3n * I64_MAX);
      expect(store.channels()[0].accruedNano).toBe(3n * I64_MAX);
    });

    it('answers window queries from hourly buckets: from rounded down, to rounded up; (fromMs, toMs] counts in the hour of toMs - 1', () => {
      const key = { device: 'm', point: 'p', account: 'a', payee: 'b' };
      const acc = (qty: bigint, from: number, to: number) => accrual(key.device, key.point, key.account, key.payee, qty, qty, from, to);
      store.commitBatch(
        batch(T0 + 2 * HOUR, {
          accruals: [
            acc(1n, T0 - 10_000, T0), // ends exactly at 10:00 -> hour 09:00
            acc(10n, T0, T0 + 10_000), // -> hour 10:00
            acc(100n, T0 + HOUR, T0 + HOUR), // an instant at 11:00 -> hour 11:00
            acc(1000n, T0 + HOUR + 1, T0 + 2 * HOUR), // -> hour 11:00
          ],
        }),
      );
      const q = (fromMs?: number, toMs?: number): bigint[] => store.ledgerTotals({ fromMs, toMs }).map((t) => t.amountNano);
      expect(q(T0 - HOUR, T0)).toEqual([1n]);
      expect(q(T0 + 30 * 60_000, T0 + 45 * 60_000)).toEqual([10n]);
      expect(q(T0 + 1, T0 + HOUR)).toEqual([10n]);
      expect(q(T0 + HOUR)).toEqual([1100n]);
      expect(q(undefined, T0 + 1)).toEqual([11n]);
      expect(q(T0 - 5 * HOUR, T0 + 5 * HOUR)).toEqual([1111n]);
      expect(q(T0 + 3 * HOUR, T0 + 4 * HOUR)).toEqual([]);
      expect(store.ledgerTotals({ fromMs: T0, toMs: T0 + HOUR, device: 'other' })).toEqual([]);
      expect(hourWindow(T0 + 1, T0 + HOUR + 1)).toEqual({ fromMs: T0, toMs: T0 + 2 * HOUR });
      expect(() => store.ledgerTotals({ fromMs: 1.5 })).toThrow(LedgerQueryError);
    });

    it('lists accounts (unsettled from state, vouchered from channels) and channels (accrued, vouchered, last seq)', () => {
      store.commitBatch(meterBatch(1, { account: 'purifier-1', payee: 'waterworks', amount: 100n }));
      store.commitBatch(meterBatch(2, { account: 'purifier-1', payee: 'service', amount: 5n }));
      store.commitBatch(meterBatch(3, { device: 'pump-1', account: 'pump-1', payee: 'grid', amount: 7n }));
      store.recordVoucher({ channel: 'purifier-1>waterworks', seq: 1, amountNano: 60n, json: '{"seq":1}', issuedAtMs: T0 + HOUR });
      store.recordVoucher({ channel: 'purifier-1>service', seq: 1, amountNano: 5n, json: '{"seq":1}', issuedAtMs: T0 + HOUR });
      expect(store.channels()).toEqual([
        { channel: 'pump-1>grid', payer: 'pump-1', payee: 'grid', accruedNano: 7n, voucheredNano: 0n, lastSeq: 0 },
        { channel: 'purifier-1>service', payer: 'purifier-1', payee: 'service', accruedNano: 5n, voucheredNano: 5n, lastSeq: 1 },
        { channel: 'purifier-1>waterworks', payer: 'purifier-1', payee: 'waterworks', accruedNano: 100n, voucheredNano: 60n, lastSeq: 1 },
      ]);
      // meterBatch(2) left purifier-1 unsettled at 5 * 2 = 10 (its state is what the core said last)
      expect(store.accounts()).toEqual([
        { account: 'pump-1', unsettledNano: 21n, voucheredNano: 0n },
        { account: 'purifier-1', unsettledNano: 10n, voucheredNano: 65n },
      ]);
    });

    it('records vouchers: seq strictly increasing, amount never decreasing, nothing committed on refusal', () => {
      store.commitBatch(meterBatch(1, { amount: 500n }));
      const ch = 'purifier-1>waterworks';
      const v = (seq: number, amountNano: bigint) => ({ channel: ch, seq, amountNano, json: `{"seq":${seq}}`, issuedAtMs: T0 + seq });
      const c1 = store.recordVoucher(v(1, 100n));
      expect(c1.seq).toBe(2);
      const head = store.head();
      expect(() => store.recordVoucher(v(1, 200n))).toThrow(LedgerVoucherError);
      expect(() => store.recordVoucher(v(2, 99n))).toThrow(LedgerVoucherError);
      expect(store.head()).toEqual(head);
      store.recordVoucher(v(3, 100n)); // equal amount is allowed, seq may skip
      store.recordVoucher({ channel: 'other>payee', seq: 7, amountNano: 1n, json: '{}', issuedAtMs: T0 });
      expect(store.vouchers(ch).map((x) => [x.seq, x.amountNano, x.json])).toEqual([
        [1, 100n, '{"seq":1}'],
        [3, 100n, '{"seq":3}'],
      ]);
      expect(store.vouchers(ch, 1).map((x) => x.seq)).toEqual([3]);
      expect(store.vouchers(ch, 3)).toEqual([]);
      expect(store.vouchers().map((x) => x.channel)).toEqual(['other>payee', ch, ch]);
      expect(store.vouchers(ch)[1]).toMatchObject({ issuedAtMs: T0 + 3, batchSeq: 3 });
      const chRow = store.channels().find((c) => c.channel === ch)!;
      expect(chRow).toMatchObject({ accruedNano: 500n, voucheredNano: 100n, lastSeq: 3 });
      expect(store.channels().find((c) => c.channel === 'other>payee')).toEqual({
        channel: 'other>payee',
        payer: 'other',
        payee: 'payee',
        accruedNano: 0n,
        voucheredNano: 1n,
        lastSeq: 7,
      });
      expect(() => store.recordVoucher({ ...v(9, 1000n), channel: 'no-payee' })).toThrow(LedgerBatchError);
    });

    it('commits vouchers inside a batch atomically with the account state they settle', () => {
      store.commitBatch(meterBatch(1, { amount: 500n }));
      const ch = 'purifier-1>waterworks';
      const settle = (seq: number, amountNano: bigint, unsettled: bigint): LedgerBatch =>
        batch(T0 + HOUR, {
          vouchers: [{ channel: ch, seq, amountNano, json: '{}', issuedAtMs: T0 + HOUR }],
          events: [event('settled', T0 + HOUR, { account: 'purifier-1' })],
          state: { slots: [], lines: [], accounts: [{ account: 'purifier-1', unsettledNano: unsettled, overLimit: false }] },
        });
      store.commitBatch(settle(1, 400n, 100n));
      const before = { head: store.head(), accounts: store.accounts(), events: store.events() };
      expect(() => store.commitBatch(settle(1, 450n, 50n))).toThrow(LedgerVoucherError);
      expect({ head: store.head(), accounts: store.accounts(), events: store.events() }).toEqual(before);
      expect(store.accounts()).toEqual([{ account: 'purifier-1', unsettledNano: 100n, voucheredNano: 400n }]);
    });

    it('forgets every part of a refused batch, also for the batches after it', () => {
      store.commitBatch(meterBatch(1, { amount: 100n }));
      const refused: LedgerBatch = {
        ...meterBatch(2, { amount: 1000n }),
        vouchers: [{ channel: 'purifier-1>waterworks', seq: 1, amountNano: 1n, json: '{}', issuedAtMs: T0 }],
      };
      refused.vouchers!.push({ ...refused.vouchers![0] }); // the same seq twice: refused after the accrual was written
      expect(() => store.commitBatch(refused)).toThrow(LedgerVoucherError);
      store.commitBatch(meterBatch(3, { amount: 10n }));
      expect(store.ledgerTotals().map((t) => t.amountNano)).toEqual([110n]);
      expect(store.ledgerTotals({ fromMs: T0, toMs: T0 + HOUR }).map((t) => t.amountNano)).toEqual([110n]);
      expect(store.channels()[0]).toMatchObject({ accruedNano: 110n, voucheredNano: 0n, lastSeq: 0 });
      expect(store.vouchers()).toEqual([]);
      expect(store.head().seq).toBe(2);
    });

    it('stores events and filters them by kind, device, account, time and limit', () => {
      store.commitBatch(
        batch(T0, {
          events: [
            event('baseline', T0 + 1, { device: 'd1', point: 'water', detail: { raw: '10' } }),
            event('rollover', T0 + 2, { device: 'd2', point: 'energy', detail: { raw: '65535', n: 1.5, ok: true, none: null } }),
            event('credit-over', T0 + 3, { account: 'a1', detail: { unsettled: '12.000000000' } }),
          ],
        }),
      );
      store.commitBatch(batch(T0 + 10, { events: [event('reset', T0 + 4, { device: 'd1', point: 'water', detail: {} })] }));
      const all = store.events();
      expect(all.map((e) => e.kind)).toEqual(['baseline', 'rollover', 'credit-over', 'reset']);
      expect(all[1]).toEqual({
        id: all[1].id,
        batchSeq: 1,
        kind: 'rollover',
        device: 'd2',
        point: 'energy',
        tsMs: T0 + 2,
        detail: { raw: '65535', n: 1.5, ok: true, none: null },
      });
      expect(all[2]).not.toHaveProperty('device');
      expect(all[2].account).toBe('a1');
      expect(all[3].batchSeq).toBe(2);
      expect(store.events({ kinds: ['reset', 'baseline'] }).map((e) => e.kind)).toEqual(['baseline', 'reset']);
      expect(store.events({ kinds: [] })).toEqual([]);
      expect(store.events({ device: 'd1' }).map((e) => e.kind)).toEqual(['baseline', 'reset']);
      expect(store.events({ account: 'a1' }).map((e) => e.kind)).toEqual(['credit-over']);
      expect(store.events({ sinceMs: T0 + 2 }).map((e) => e.kind)).toEqual(['rollover', 'credit-over', 'reset']);
      expect(store.events({ sinceMs: T0 + 2, limit: 2 }).map((e) => e.kind)).toEqual(['rollover', 'credit-over']);
      expect(store.events({ limit: 2 }).map((e) => e.kind)).toEqual(['credit-over', 'reset']);
      expect(() => store.events({ limit: -1 })).toThrow(LedgerQueryError);
    });

    it('loads the complete state; batches upsert only the rows they touch', () => {
      store.commitBatch(
        batch(T0, {
          state: {
            slots: [
              { device: 'a', point: 'p', hasBaseline: true, lastRaw: U64_MAX, lastTsMs: T0, heldRaw: null, heldTsMs: 0 },
              { device: 'b', point: 'p', hasBaseline: false, lastRaw: 0n, lastTsMs: 0, heldRaw: null, heldTsMs: 0 },
            ],
            lines: [{ device: 'a', point: 'p', account: 'acc', payee: 'pay', remainder: 999_999n }],
            accounts: [{ account: 'acc', unsettledNano: I64_MAX, overLimit: true }],
          },
        }),
      );
      store.commitBatch(
        batch(T0 + 1, {
          state: {
            slots: [{ device: 'a', point: 'p', hasBaseline: true, lastRaw: 5n, lastTsMs: T0 + 1, heldRaw: U64_MAX - 1n, heldTsMs: T0 + 1 }],
            lines: [],
            accounts: [{ account: 'other', unsettledNano: -3n, overLimit: false }],
          },
        }),
      );
      expect(store.loadState()).toEqual({
        slots: [
          { device: 'a', point: 'p', hasBaseline: true, lastRaw: 5n, lastTsMs: T0 + 1, heldRaw: U64_MAX - 1n, heldTsMs: T0 + 1 },
          { device: 'b', point: 'p', hasBaseline: false, lastRaw: 0n, lastTsMs: 0, heldRaw: null, heldTsMs: 0 },
        ],
        lines: [{ device: 'a', point: 'p', account: 'acc', payee: 'pay', remainder: 999_999n }],
        accounts: [
          { account: 'acc', unsettledNano: I64_MAX, overLimit: true },
          { account: 'other', unsettledNano: -3n, overLimit: false },
        ],
      });
    });

    it('records policy changes as chained batches with a policy-change event; versions must increase', () => {
      const c = store.recordPolicy(1, 'h1', '[{"id":"flow"}]', T0);
      expect(c).toEqual(store.head());
      expect(store.latestPolicy()).toEqual({ version: 1, hash: 'h1', flowsJson: '[{"id":"flow"}]', atMs: T0, batchSeq: 1 });
      expect(() => store.recordPolicy(1, 'h2', '[]', T0 + 1)).toThrow(LedgerPolicyError);
      expect(() => store.recordPolicy(0, 'h0', '[]', T0 + 1)).toThrow(LedgerBatchError);
      store.recordPolicy(3, 'h3', '[]', T0 + 2);
      expect(store.latestPolicy()).toMatchObject({ version: 3, hash: 'h3', batchSeq: 2 });
      expect(store.events({ kinds: ['policy-change'] }).map((e) => e.detail)).toEqual([
        { version: 1, hash: 'h1' },
        { version: 3, hash: 'h3' },
      ]);
      expect(() => store.commitBatch(batch(T0 + 3, { policy: { version: 2, hash: 'x', flowsJson: '[]' } }))).toThrow(LedgerPolicyError);
      expect(store.head().seq).toBe(2);
    });

    it('refuses malformed batches and commits nothing', () => {
      store.commitBatch(meterBatch(1));
      const before = { head: store.head(), totals: store.ledgerTotals(), state: store.loadState() };
      const good = meterBatch(2);
      const bad: Array<[string, LedgerBatch]> = [
        ['number amount', { ...good, accruals: [{ ...good.accruals![0], amountNano: 5 as unknown as bigint }] }],
        ['channel mismatch', { ...good, accruals: [{ ...good.accruals![0], channel: 'x>y' }] }],
        ['">" in a payee', { ...good, accruals: [{ ...good.accruals![0], payee: 'a>b', channel: 'purifier-1>a>b' }] }],
        ['float time', { ...good, deltas: [{ ...good.deltas![0], toMs: good.deltas![0].toMs + 0.5 }] }],
        ['from after to', { ...good, deltas: [{ ...good.deltas![0], fromMs: good.deltas![0].toMs + 1 }] }],
        ['NaN in detail', { ...good, events: [event('x', T0, { detail: { v: Number.NaN } })] }],
        ['empty device', { ...good, deltas: [{ ...good.deltas![0], device: '' }] }],
        ['usage off the hour', { ...good, usage: [usage('d', 'p', 'a', 'b', T0 + 1, 1n, 1n)] }],
        ['number usage amount', { ...good, usage: [usage('d', 'p', 'a', 'b', T0, 1n, 1 as unknown as bigint)] }],
        ['">" in a usage payee', { ...good, usage: [usage('d', 'p', 'a', 'b>c', T0, 1n, 1n)] }],
        ['negative metered count', { ...good, metered: { readings: -1, deltas: 0, accruals: 0 } }],
        ['number raw', { ...good, state: { ...good.state, slots: [{ ...good.state.slots[0], lastRaw: 1 as unknown as bigint }] } }],
        ['missing state', { ...good, state: undefined as unknown as LedgerBatch['state'] }],
      ];
      const outcome = bad.map(([why, b]) => {
        try {
          store.commitBatch(b);
          return [why, 'committed'];
        } catch (err) {
          return [why, err instanceof LedgerBatchError ? 'refused' : String(err)];
        }
      });
      expect(outcome).toEqual(bad.map(([why]) => [why, 'refused']));
      expect({ head: store.head(), totals: store.ledgerTotals(), state: store.loadState() }).toEqual(before);
    });

    it('takes usage per line and hour as it takes deltas and accruals: the same totals, windows and channels', () => {
      const other = open();
      const acc = (qty: bigint, amount: bigint, from: number, to: number) => accrual('m', 'p', 'a', 'b', qty, amount, from, to);
      store.commitBatch(
        batch(T0 + 2 * HOUR, {
          deltas: [delta('m', 'q', 'a', 5n, T0, T0 + 10)],
          accruals: [acc(3n, 30n, T0 - 10, T0), acc(4n, 40n, T0 + HOUR, T0 + HOUR + 1)],
        }),
      );
      other.commitBatch(
        batch(T0 + 2 * HOUR, {
          usage: [
            usage('m', 'p', 'a', 'b', T0 - HOUR, 3n, 30n),
            usage('m', 'p', 'a', 'b', T0 + HOUR, 4n, 40n),
            usage('m', 'q', 'a', '', T0, 5n, 0n),
          ],
        }),
      );
      for (const f of [{}, { fromMs: T0, toMs: T0 + HOUR }, { fromMs: T0 - HOUR, toMs: T0 }, { device: 'm', point: 'q' }]) {
        expect(other.ledgerTotals(f)).toEqual(store.ledgerTotals(f));
      }
      expect(other.channels()).toEqual(store.channels());
      expect(other.ledgerTotals()).toEqual([
        { device: 'm', point: 'p', account: 'a', payee: 'b', quantityMicro: 7n, amountNano: 70n },
        { device: 'm', point: 'q', account: 'a', payee: '', quantityMicro: 5n, amountNano: 0n },
      ]);
    });

    it('answers the same whether an hour is open or closed; a late reading adds to its closed hour', () => {
      const u = (hour: number, q: bigint, a: bigint) => usage('m', 'p', 'a', 'b', hour, q, a);
      store.commitBatch(batch(T0 + 60_000, { usage: [u(T0, 10n, 100n)] })); // 10:00 open
      const open = { all: store.ledgerTotals(), hour: store.ledgerTotals({ fromMs: T0, toMs: T0 + HOUR }), ch: store.channels() };
      expect(open.all.map((t) => t.amountNano)).toEqual([100n]);
      store.commitBatch(batch(T0 + HOUR + 1000, { usage: [] })); // 11:00:01: the 10:00 hour closes
      const closedBody = JSON.parse(store.body(2)!) as CommitBody;
      expect(closedBody.closed).toEqual([[1, T0, '10', '100']]);
      expect({ all: store.ledgerTotals(), hour: store.ledgerTotals({ fromMs: T0, toMs: T0 + HOUR }), ch: store.channels() }).toEqual(open);
      store.commitBatch(batch(T0 + HOUR + 2000, { usage: [u(T0 + HOUR, 1n, 1n), u(T0, 2n, 20n)] })); // 11:00 opens; a late 10:00 reading
      expect(JSON.parse(store.body(3)!).closed).toEqual([[1, T0, '2', '20']]);
      expect(store.ledgerTotals({ fromMs: T0, toMs: T0 + HOUR }).map((t) => [t.quantityMicro, t.amountNano])).toEqual([[12n, 120n]]);
      expect(store.ledgerTotals({ fromMs: T0 + HOUR, toMs: T0 + 2 * HOUR }).map((t) => [t.quantityMicro, t.amountNano])).toEqual([
        [1n, 1n],
      ]);
      expect(store.ledgerTotals().map((t) => [t.quantityMicro, t.amountNano])).toEqual([[13n, 121n]]);
      expect(store.channels()[0].accruedNano).toBe(121n);
    });

    it('keeps the raised alarms as state, however many alarm events came', () => {
      const alarm = (kind: string, policy: string, device: string, t: number) =>
        event(kind, t, { device, point: 'cartridge', detail: { policy, value: '5' } });
      const events = [];
      for (let i = 0; i < 12_000; i++) events.push(alarm(i % 2 === 0 ? 'alarm' : 'alarm-clear', 'low', 'purifier-1', T0 + i));
      events.push(alarm('alarm', 'low', 'purifier-1', T0 + 20_000)); // raised once more: stays raised
      events.push(alarm('alarm', 'low', 'purifier-2', T0 + 20_001));
      events.push(alarm('alarm', 'low', 'purifier-2', T0 + 20_002)); // raised twice: keeps its first time
      events.push(alarm('alarm', 'high', 'purifier-3', T0 + 20_003));
      events.push(alarm('alarm-clear', 'high', 'purifier-3', T0 + 20_004));
      events.push(event('alarm', T0, { device: 'x', detail: {} })); // no policy: not an alarm of a node
      store.commitBatch(batch(T0, { events: events.slice(0, 6000) }));
      store.commitBatch(batch(T0 + 1, { events: events.slice(6000) }));
      expect(store.activeAlarms()).toEqual([
        { policy: 'low', device: 'purifier-1', point: 'cartridge', sinceMs: T0 + 20_000 },
        { policy: 'low', device: 'purifier-2', point: 'cartridge', sinceMs: T0 + 20_001 },
      ]);
    });

    it('keeps reading history downsampled and bounded by bytes, the oldest intervals dropped first', () => {
      const sample = (atMs: number, point: string, n: number): LedgerSample => ({
        device: 'd',
        point,
        atMs,
        count: n,
        last: String(n),
        min: '0',
        max: String(n),
        mean: String(n / 2),
      });
      expect(store.recordHistory([sample(T0, 'p', 4), sample(T0, 'q', 2), sample(T0 + 60_000, 'p', 6)], 1_000_000)).toBe(0);
      expect(store.history({ point: 'p' })).toEqual([sample(T0, 'p', 4), sample(T0 + 60_000, 'p', 6)]);
      expect(store.history({ fromMs: T0 + 1 })).toEqual([sample(T0 + 60_000, 'p', 6)]);
      // more readings of an interval already written: one sample of both
      store.recordHistory([{ device: 'd', point: 'q', atMs: T0, count: 2, last: '9', min: '-1', max: '9', mean: '4' }], 1_000_000);
      expect(store.history({ point: 'q' })).toEqual([
        { device: 'd', point: 'q', atMs: T0, count: 4, last: '9', min: '-1', max: '9', mean: '2.5' },
      ]);
      const many: LedgerSample[] = [];
      for (let i = 2; i < 40; i++) many.push(sample(T0 + i * 60_000, 'p', i));
      const dropped = store.recordHistory(many, 800);
      expect(dropped).toBeGreaterThan(0);
      const left = store.history();
      expect(left.length).toBeLessThan(many.length);
      expect(left[left.length - 1]).toEqual(sample(T0 + 39 * 60_000, 'p', 39)); // the newest stay
      expect(store.head().seq).toBe(0); // history is not money: not chained
    });

    it('throws LedgerClosedError after close (close is idempotent)', () => {
      store.close();
      store.close();
      expect(() => store.head()).toThrow(LedgerClosedError);
      expect(() => store.commitBatch(meterBatch(1))).toThrow(LedgerClosedError);
      expect(() => store.ledgerTotals()).toThrow(LedgerClosedError);
    });
  });
}
