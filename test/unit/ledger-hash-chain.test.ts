/** The canonical commit body, the chain hash and the aggregation rules, property-tested where it pays. */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { aggregateBatch, batchUsage, channelId, hourOf, hourWindow, parseChannel } from '../../gateway/ledger/batch-aggregates';
import {
  type CommitContent,
  GENESIS_HASH,
  chainHash,
  encodeBody,
  fromBody,
  packText,
  toBody,
  unpackText,
} from '../../gateway/ledger/hash-chain';
import type { EventDetailValue } from '../../gateway/ledger/store';
import { HOUR, T0, accrual, delta, usage } from './ledger-fixtures';

/** Any UTF-16 code unit, lone surrogates and control characters included. */
const text = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const name = fc.oneof(
  fc.constantFrom('purifier-1', 'water', 'waterworks', 'ø'),
  text.filter((s) => s.length > 0 && !s.includes('>')),
);
const ms = fc.integer({ min: 0, max: 2 ** 45 });
const big = fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n });
const detailValue: fc.Arbitrary<EventDetailValue> = fc.oneof(
  text,
  fc.boolean(),
  fc.constant(null),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const detailKey = fc.oneof(
  text,
  fc.nat({ max: 20 }).map(String),
  fc.constantFrom('raw', '__proto__', 'constructor', '4294967295', 'a', 'B'),
);
const hex = fc.stringMatching(/^[0-9a-f]{64}$/);

const contentArb: fc.Arbitrary<CommitContent> = fc.record({
  atMs: ms,
  policyVersion: fc.nat({ max: 50 }),
  accruedQtyMicro: big,
  accruedNano: big,
  metered: fc.record({ readings: fc.nat(), deltas: fc.nat(), accruals: fc.nat() }),
  closed: fc.array(
    fc.record({ lineId: fc.nat(), hourMs: ms.map((t) => Math.floor(t / HOUR) * HOUR), quantityMicro: big, amountNano: big }),
    { maxLength: 4 },
  ),
  lines: fc.array(fc.record({ id: fc.nat(), device: name, point: name, account: name, payee: fc.oneof(fc.constant(''), name) }), {
    maxLength: 3,
  }),
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
  vouchers: fc.array(
    fc.record({
      channel: fc.tuple(name, name).map(([a, b]) => channelId(a, b)),
      seq: fc.nat(),
      amountNano: big,
      json: text,
      issuedAtMs: ms,
    }),
    { maxLength: 2 },
  ),
  policy: fc.option(fc.record({ version: fc.nat(), hash: text, flowsJson: text }), { nil: null }),
  state: fc.record({ accounts: hex, devices: hex }),
  migration: fc.option(fc.record({ fromSchema: fc.constant(1), readingsDropped: fc.nat(), throughSeq: fc.nat() }), { nil: null }),
});

describe('canonical commit body', () => {
  it('is byte for byte the RFC 8785 form the canonicalize package gives', () => {
    fc.assert(
      fc.property(contentArb, fc.nat(), (c, seq) => {
        const body = toBody(seq, c);
        expect(encodeBody(body)).toBe(canonicalize(body));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes back to the committed values (bigints exact)', () => {
    fc.assert(
      fc.property(contentArb, (c) => {
        const back = fromBody(JSON.parse(encodeBody(toBody(1, c))));
        expect([back.accruedQtyMicro, back.accruedNano]).toEqual([c.accruedQtyMicro, c.accruedNano]);
        expect(back.metered).toEqual(c.metered);
        expect(back.closed).toEqual([...c.closed].sort((a, b) => a.hourMs - b.hourMs || a.lineId - b.lineId));
        expect(back.lines).toEqual([...c.lines].sort((a, b) => a.id - b.id));
        expect(back.vouchers.map((v) => v.amountNano)).toEqual(c.vouchers.map((v) => v.amountNano));
        expect(back.events.map((e) => canonicalize(e.detail))).toEqual(c.events.map((e) => canonicalize(e.detail)));
        expect(back.state).toEqual(c.state);
        expect(back.migration).toEqual(c.migration);
      }),
      { numRuns: 200 },
    );
  });

  it('records the state as digests and the money as sums, never items per reading', () => {
    const body = toBody(4, {
      atMs: 0,
      policyVersion: 0,
      accruedQtyMicro: 10n,
      accruedNano: 3n,
      metered: { readings: 1_000_000, deltas: 900_000, accruals: 900_000 },
      closed: [],
      lines: [],
      events: [],
      vouchers: [],
      policy: null,
      state: { accounts: 'a'.repeat(64), devices: 'b'.repeat(64) },
    });
    expect(Object.keys(body)).toEqual([
      'accrued',
      'atMs',
      'closed',
      'events',
      'lines',
      'metered',
      'migration',
      'policy',
      'policyVersion',
      'seq',
      'state',
      'v',
      'vouchers',
    ]);
    expect(body.seq).toBe(4);
    expect(body.v).toBe(2);
    expect(encodeBody(body).length).toBeLessThan(450); // whatever the counts say
  });

  it('hashes as sha256(prev hash bytes ‖ utf-8 body)', () => {
    const body = '{"a":"ø"}';
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.alloc(32), Buffer.from(body, 'utf8')]))
      .digest('hex');
    expect(chainHash(GENESIS_HASH, body)).toBe(expected);
    const next = chainHash(expected, body);
    expect(next).toBe(
      createHash('sha256')
        .update(Buffer.concat([Buffer.from(expected, 'hex'), Buffer.from(body)]))
        .digest('hex'),
    );
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

  it('folds deltas and accruals into usage per line and hour, after the usage given', () => {
    const given = usage('m', 'p', 'acc', 'pay', T0, 1n, 1n);
    expect(
      batchUsage({
        usage: [given],
        deltas: [delta('m', 'p', 'acc', 100n, T0, T0 + 10), delta('m', 'q', 'acc', 5n, T0 - 10, T0)],
        accruals: [accrual('m', 'p', 'acc', 'pay', 100n, 6n, T0, T0 + 10)],
      }),
    ).toEqual([given, usage('m', 'p', 'acc', 'pay', T0, 100n, 6n), usage('m', 'q', 'acc', '', T0 - HOUR, 5n, 0n)]);
    expect(batchUsage({})).toEqual([]);
  });

  it('gives the same totals however accruals are split into batches', () => {
    const acc = fc
      .record({
        point: fc.constantFrom('p', 'q'),
        payee: fc.constantFrom('x', 'y'),
        qty: big,
        amount: big,
        from: ms,
        len: fc.nat({ max: 3 * HOUR }),
      })
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
