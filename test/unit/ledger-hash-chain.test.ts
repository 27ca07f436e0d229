/** The canonical batch encoding, the chain hash and the aggregation rules, property-tested where it pays. */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { aggregateBatch, channelId, hourOf, hourWindow, parseChannel } from '../../gateway/ledger/batch-aggregates';
import {
  GENESIS_HASH,
  chainHash,
  encodeBody,
  encodeReadings,
  fromBody,
  packText,
  readingsDigest,
  toBody,
  unpackText,
} from '../../gateway/ledger/hash-chain';
import type { EventDetailValue, LedgerBatch } from '../../gateway/ledger/store';
import { HOUR, T0, accrual, delta } from './ledger-fixtures';

/** Any UTF-16 code unit, lone surrogates and control characters included. */
const text = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const name = fc.oneof(fc.constantFrom('purifier-1', 'water', 'waterworks', 'ø'), text.filter((s) => s.length > 0 && !s.includes('>')));
const ms = fc.integer({ min: 0, max: 2 ** 45 });
const big = fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n });
const detailValue: fc.Arbitrary<EventDetailValue> = fc.oneof(
  text,
  fc.boolean(),
  fc.constant(null),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const detailKey = fc.oneof(text, fc.nat({ max: 20 }).map(String), fc.constantFrom('raw', '__proto__', 'constructor', '4294967295', 'a', 'B'));

const batchArb: fc.Arbitrary<LedgerBatch> = fc.record({
  atMs: ms,
  policyVersion: fc.nat({ max: 50 }),
  readings: fc.array(fc.record({ device: name, point: name, tsMs: ms, value: text }), { maxLength: 4 }),
  deltas: fc.array(fc.record({ device: name, point: name, account: name, qtyMicro: big, fromMs: ms, toMs: ms }), { maxLength: 3 }),
  accruals: fc.array(
    fc
      .record({
        device: name,
        point: name,
        account: name,
        payee: name,
        qtyMicro: big,
        amountNano: big,
        priceNano: big,
        fromMs: ms,
        toMs: ms,
        policyVersion: fc.nat({ max: 50 }),
      })
      .map((a) => ({ ...a, channel: channelId(a.account, a.payee) })),
    { maxLength: 3 },
  ),
  events: fc.array(
    fc.record(
      {
        kind: name,
        device: name,
        point: name,
        account: name,
        tsMs: ms,
        detail: fc.dictionary(detailKey, detailValue, { maxKeys: 5 }),
      },
      { requiredKeys: ['kind', 'tsMs', 'detail'] },
    ),
    { maxLength: 3 },
  ),
  state: fc.record({
    slots: fc.array(
      fc.record({
        device: name,
        point: name,
        hasBaseline: fc.boolean(),
        lastRaw: big,
        lastTsMs: ms,
        heldRaw: fc.option(big, { nil: null }),
        heldTsMs: ms,
      }),
      { maxLength: 2 },
    ),
    lines: fc.array(fc.record({ device: name, point: name, payee: name, account: name, remainder: big }), { maxLength: 2 }),
    accounts: fc.array(fc.record({ account: name, unsettledNano: big, overLimit: fc.boolean() }), { maxLength: 2 }),
  }),
  vouchers: fc.array(
    fc.record({ channel: fc.tuple(name, name).map(([a, b]) => channelId(a, b)), seq: fc.nat(), amountNano: big, json: text, issuedAtMs: ms }),
    { maxLength: 2 },
  ),
  policy: fc.option(fc.record({ version: fc.nat(), hash: text, flowsJson: text }), { nil: undefined }),
});

describe('canonical batch body', () => {
  it('is byte for byte the RFC 8785 form the canonicalize package gives', () => {
    fc.assert(
      fc.property(batchArb, fc.nat(), fc.option(fc.nat(), { nil: null }), (b, seq, pruned) => {
        const body = toBody(seq, b, readingsDigest(b.readings), pruned);
        expect(encodeBody(body)).toBe(canonicalize(body));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes back to the committed values (bigints exact)', () => {
    fc.assert(
      fc.property(batchArb, (b) => {
        const back = fromBody(JSON.parse(encodeBody(toBody(1, b))));
        expect(back.deltas).toEqual(b.deltas);
        expect(back.accruals).toEqual(b.accruals);
        expect(back.state.slots).toEqual(b.state.slots);
        expect(back.state.lines.map((l) => l.remainder)).toEqual(b.state.lines.map((l) => l.remainder));
        expect(back.state.accounts.map((a) => a.unsettledNano)).toEqual(b.state.accounts.map((a) => a.unsettledNano));
        expect(back.vouchers.map((v) => v.amountNano)).toEqual((b.vouchers ?? []).map((v) => v.amountNano));
        expect(back.events.map((e) => canonicalize(e.detail))).toEqual(b.events.map((e) => canonicalize(e.detail)));
        expect(back.prunedThroughSeq).toBeNull();
      }),
      { numRuns: 200 },
    );
  });

  it('folds readings into a digest of their canonical array, in commit order', () => {
    const r = [
      { device: 'd', point: 'p', tsMs: 2, value: '1.5' },
      { device: 'd', point: 'q', tsMs: 1, value: 'true' },
    ];
    expect(encodeReadings(r)).toBe(canonicalize(r));
    expect(readingsDigest(r)).toBe(createHash('sha256').update(canonicalize(r)!).digest('hex'));
    expect(readingsDigest(r)).not.toBe(readingsDigest([r[1], r[0]]));
    const body = toBody(4, { atMs: 0, policyVersion: 0, readings: r, deltas: [], accruals: [], events: [], state: { slots: [], lines: [], accounts: [] } });
    expect(body.readings).toEqual({ count: 2, digest: readingsDigest(r) });
    expect(body.seq).toBe(4);
  });

  it('hashes as sha256(prev hash bytes ‖ utf-8 body)', () => {
    const body = '{"a":"ø"}';
    const expected = createHash('sha256').update(Buffer.concat([Buffer.alloc(32), Buffer.from(body, 'utf8')])).digest('hex');
    expect(chainHash(GENESIS_HASH, body)).toBe(expected);
    const next = chainHash(expected, body);
    expect(next).toBe(createHash('sha256').update(Buffer.concat([Buffer.from(expected, 'hex'), Buffer.from(body)])).digest('hex'));
  });

  it('stores texts deflated and restores them exactly', () => {
    fc.assert(fc.property(text, (t) => expect(unpackText(packText(t))).toBe(Buffer.from(t, 'utf8').toString('utf8'))));
  });
});

describe('aggregation rules', () => {
  it('counts an interval (from, to] in the hour of its last millisecond', () => {
    expect(hourOf(T0 - 1000, T0)).toBe(T0 - HOUR);
    expect(hourOf(T0, T0 + 1)).toBe(T0);
    expect(hourOf(T0, T0)).toBe(T0);
    expect(hourOf(T0 - 5 * HOUR, T0 + HOUR)).toBe(T0);
    expect(hourWindow(T0 + 1, T0 + 1)).toEqual({ fromMs: T0, toMs: T0 + HOUR });
    expect(hourWindow(T0, T0 + HOUR)).toEqual({ fromMs: T0, toMs: T0 + HOUR });
    expect(hourWindow()).toEqual({ fromMs: null, toMs: null });
  });

  it('splits channel ids at the first ">"', () => {
    expect(parseChannel('purifier-1>waterworks')).toEqual({ payer: 'purifier-1', payee: 'waterworks' });
    expect(parseChannel('a>b>c')).toEqual({ payer: 'a', payee: 'b>c' });
    expect(parseChannel('nopayee>')).toBeNull();
    expect(parseChannel('>x')).toBeNull();
    expect(parseChannel('plain')).toBeNull();
  });

  it('treats a delta as untariffed only when no accrual of its point lies inside it', () => {
    const agg = aggregateBatch(
      [
        delta('m', 'p', 'acc', 100n, T0, T0 + 10), // covered by a time-of-use split
        delta('m', 'p', 'acc', 7n, T0 + 10, T0 + 20), // no accrual (e.g. an overflow): untariffed
        delta('m', 'q', 'acc', 5n, T0, T0 + 10), // another point: untariffed
      ],
      [accrual('m', 'p', 'acc', 'pay', 60n, 6n, T0, T0 + 4), accrual('m', 'p', 'acc', 'pay', 40n, 8n, T0 + 4, T0 + 10)],
    );
    expect([...agg.totals.values()]).toEqual([
      { device: 'm', point: 'p', account: 'acc', payee: 'pay', quantityMicro: 100n, amountNano: 14n },
      { device: 'm', point: 'p', account: 'acc', payee: '', quantityMicro: 7n, amountNano: 0n },
      { device: 'm', point: 'q', account: 'acc', payee: '', quantityMicro: 5n, amountNano: 0n },
    ]);
    expect([...agg.channels.values()]).toEqual([{ channel: 'acc>pay', payer: 'acc', payee: 'pay', accruedNano: 14n }]);
    expect([...agg.hourly.values()].map((h) => h.hourMs)).toEqual([T0, T0, T0]);
  });

  it('gives the same totals however accruals are split into batches', () => {
    const acc = fc
      .record({ point: fc.constantFrom('p', 'q'), payee: fc.constantFrom('x', 'y'), qty: big, amount: big, from: ms, len: fc.nat({ max: 3 * HOUR }) })
      .map((a) => accrual('m', a.point, 'acc', a.payee, a.qty, a.amount, a.from, a.from + a.len));
    fc.assert(
      fc.property(fc.array(acc, { maxLength: 20 }), fc.nat({ max: 20 }), (list, cut) => {
        const whole = aggregateBatch([], list);
        const split = aggregateBatch([], list.slice(cut), aggregateBatch([], list.slice(0, cut)));
        const sorted = (m: Map<string, unknown>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
        expect(sorted(split.totals)).toEqual(sorted(whole.totals));
        expect(sorted(split.hourly)).toEqual(sorted(whole.hourly));
        expect(sorted(split.channels)).toEqual(sorted(whole.channels));
      }),
    );
  });
});
