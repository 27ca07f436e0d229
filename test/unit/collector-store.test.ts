/**
 * The payee's store (settle/collector-store.ts): what `m2m-gateway collect`
 * accepts, refuses and flags, against vouchers signed here with real keys.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CollectorStore } from '../../gateway/settle/collector-store';
import { KeyStore } from '../../gateway/settle/keys';
import { signVoucher } from '../../gateway/settle/voucher';

const HEAD = 'cd'.repeat(32);
const NOK = 1_000_000_000n;

describe('CollectorStore', () => {
  let dir: string;
  let keys: KeyStore;
  let store: CollectorStore;
  const v = (seq: number, amount: bigint, opts: { payer?: string; at?: number; key?: KeyStore } = {}) =>
    signVoucher(
      {
        payer: opts.payer ?? 'p-1',
        payee: 'ww',
        seq,
        amountNano: amount,
        currency: 'NOK',
        ledgerHead: HEAD,
        issuedAtMs: opts.at ?? 1_800_000_000_000 + seq,
      },
      (opts.key ?? keys).keyFor(opts.payer ?? 'p-1'),
    );

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-collector-'));
    keys = new KeyStore(path.join(dir, 'payer-keys'));
    store = new CollectorStore(path.join(dir, 'data'), new Set(['ww']), {});
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('keeps the latest voucher per channel as the receivable; a repeat of the same voucher is a duplicate', () => {
    expect(store.offer(v(1, 2n * NOK), 't').status).toBe('accepted');
    expect(store.offer(v(2, 5n * NOK), 't').status).toBe('accepted');
    expect(store.offer(v(2, 5n * NOK), 't').status).toBe('duplicate');
    expect(store.receivables()).toEqual([
      { channel: 'p-1>ww', payer: 'p-1', payee: 'ww', seq: 2, amount: '5.000000000', currency: 'NOK', receivedAt: expect.any(String) },
    ]);
  });

  test('two different vouchers with one seq: double-issue, recorded, the first one stays', () => {
    store.offer(v(1, 2n * NOK), 't');
    const r = store.offer(v(1, 3n * NOK, { at: 1_900_000_000_000 }), 'other');
    expect(r.status).toBe('double-issue');
    expect(store.events('double-issue')).toEqual([
      expect.objectContaining({
        kind: 'double-issue',
        channel: 'p-1>ww',
        data: expect.objectContaining({
          seq: 1,
          kept: expect.objectContaining({ amount: '2.000000000' }),
          offered: expect.objectContaining({ amount: '3.000000000' }),
        }),
      }),
    ]);
    expect(store.receivables()[0]).toMatchObject({ seq: 1, amount: '2.000000000' });
  });

  test('events are bounded: past maxEvents the oldest go, the newest stay', () => {
    store.close();
    store = new CollectorStore(path.join(dir, 'data'), new Set(['ww']), {}, { maxEvents: 3 });
    for (let seq = 1; seq <= 5; seq++) {
      store.offer(v(seq, BigInt(seq) * NOK), 't');
      expect(store.offer(v(seq, BigInt(seq) * NOK, { at: 1_900_000_000_000 + seq }), 'other').status).toBe('double-issue');
    }
    expect(store.events('double-issue').map((e) => (e.data as { seq: number }).seq)).toEqual([5, 4, 3]);
  });

  test('amounts must follow seqs, pending ones included; a skipped seq is held until the one in between fills the gap', () => {
    store.offer(v(1, 2n * NOK), 't');
    expect(store.offer(v(3, 6n * NOK), 't')).toMatchObject({ status: 'held', after: 1, next: 3 });
    expect(store.receivables()[0]).toMatchObject({ seq: 1, amount: '2.000000000' }); // a gap: receivables stay
    expect(store.offer(v(2, 7n * NOK), 't')).toMatchObject({ status: 'refused', field: 'amount' }); // above pending seq 3's
    expect(store.offer(v(2, NOK), 't')).toMatchObject({ status: 'refused', field: 'amount' }); // below seq 1's
    expect(store.offer(v(4, 5n * NOK), 't')).toMatchObject({ status: 'refused', field: 'amount' }); // below pending seq 3's
    expect(store.offer(v(2, 4n * NOK), 't')).toMatchObject({ status: 'accepted', joined: 1 }); // seq 3 follows it
    expect(store.receivables()[0]).toMatchObject({ seq: 3, amount: '6.000000000' });
    expect(store.vouchers().map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(store.gaps()).toEqual([]);
  });

  test('the first voucher seen is the base; later ones below the top fill history without moving the receivable', () => {
    expect(store.offer(v(5, 5n * NOK), 't')).toMatchObject({ status: 'accepted', joined: 0 });
    expect(store.offer(v(6, 6n * NOK), 't').status).toBe('accepted');
    expect(store.offer(v(3, 3n * NOK), 'peer').status).toBe('accepted');
    expect(store.receivables()[0]).toMatchObject({ seq: 6, amount: '6.000000000' });
    expect(store.vouchers().map((x) => x.seq)).toEqual([3, 5, 6]);
  });

  test('a gap: held vouchers persist, are listed with the gap, serve siblings, and join the chain when it is filled', () => {
    store.offer(v(1, NOK), 't', 1000);
    expect(store.offer(v(4, 4n * NOK), 'mqtt', 2000)).toMatchObject({ status: 'held', after: 1, next: 4 });
    expect(store.offer(v(6, 6n * NOK), 'mqtt', 3000)).toMatchObject({ status: 'held', after: 1, next: 4 });
    expect(store.offer(v(4, 4n * NOK), 'peer').status).toBe('duplicate');
    // Reopened: the pending vouchers are still there.
    store.close();
    store = new CollectorStore(path.join(dir, 'data'), new Set(['ww']), {});
    expect(store.gaps()).toEqual([
      { channel: 'p-1>ww', after: 1, afterIssuedAt: v(1, NOK).issuedAt, next: 4, last: 6, pending: 2, sinceMs: 2000 },
    ]);
    expect(store.between('p-1>ww', 0, 5, 10).map((x) => x.seq)).toEqual([1, 4]); // what a sibling missing 2..4 would get
    expect(store.holes('p-1>ww', 10)).toEqual([
      [2, 3],
      [5, 5],
    ]);
    expect(store.holes('p-1>ww', 1)).toEqual([[2, 3]]);
    expect(store.holes('p-9>ww', 10)).toEqual([]);
    expect(store.offer(v(2, 2n * NOK), 'peer', 4000)).toMatchObject({ status: 'accepted', joined: 0 });
    expect(store.gaps()).toEqual([expect.objectContaining({ after: 2, next: 4, pending: 2 })]);
    expect(store.offer(v(3, 3n * NOK), 'gateway', 5000)).toMatchObject({ status: 'accepted', joined: 1 }); // 4 follows; 5 missing
    expect(store.receivables()[0]).toMatchObject({ seq: 4, amount: '4.000000000' });
    expect(store.gaps()).toEqual([expect.objectContaining({ after: 4, next: 6, pending: 1, sinceMs: 3000 })]);
    expect(store.offer(v(5, 5n * NOK), 'gateway').status).toBe('accepted');
    expect(store.receivables()[0]).toMatchObject({ seq: 6, amount: '6.000000000' });
    expect(store.gaps()).toEqual([]);
  });

  test('a second, different voucher with a pending seq is a double-issue; the held one stays', () => {
    store.offer(v(1, NOK), 't');
    store.offer(v(3, 3n * NOK), 't');
    expect(store.offer(v(3, 3n * NOK, { at: 1_900_000_000_000 }), 'other').status).toBe('double-issue');
    expect(store.events('double-issue')).toHaveLength(1);
    expect(store.offer(v(2, 2n * NOK), 't')).toMatchObject({ status: 'accepted', joined: 1 });
    expect(store.vouchers()[2]).toEqual(v(3, 3n * NOK));
  });

  test('pending vouchers are bounded per channel: a lower seq displaces the highest, a higher one is refused', () => {
    store.close();
    store = new CollectorStore(path.join(dir, 'data'), new Set(['ww']), {}, { maxPending: 3 });
    store.offer(v(1, NOK), 't');
    for (const seq of [10, 20, 30]) expect(store.offer(v(seq, BigInt(seq) * NOK), 't').status).toBe('held');
    expect(store.offer(v(40, 40n * NOK), 't')).toMatchObject({ status: 'refused', field: 'seq' });
    expect(store.offer(v(5, 5n * NOK), 't')).toMatchObject({ status: 'held', next: 5 });
    expect(store.gaps()).toEqual([expect.objectContaining({ pending: 3, next: 5 })]);
    expect(store.between('p-1>ww', 1, 100, 10).map((x) => x.seq)).toEqual([5, 10, 20]); // 30 made room
    // Another channel has its own bound.
    expect(store.offer(v(1, NOK, { payer: 'p-2' }), 't').status).toBe('accepted');
    expect(store.offer(v(9, NOK, { payer: 'p-2' }), 't').status).toBe('held');
  });

  test('a gap open for the given time raises one seq-gap event per gap position', () => {
    store.offer(v(1, NOK), 't', 0);
    store.offer(v(3, 3n * NOK), 't', 1000);
    expect(store.flagGaps(30_999, 30_000)).toEqual([]); // not yet
    expect(store.flagGaps(31_000, 30_000)).toEqual([expect.objectContaining({ channel: 'p-1>ww', after: 1, next: 3 })]);
    expect(store.flagGaps(60_000, 30_000)).toEqual([]); // once
    expect(store.events('seq-gap')).toEqual([
      expect.objectContaining({
        kind: 'seq-gap',
        channel: 'p-1>ww',
        data: { after: 1, next: 3, missing: 1, pending: 1, since: new Date(1000).toISOString() },
      }),
    ]);
    store.offer(v(2, 2n * NOK), 't', 61_000); // filled: 3 joins
    store.offer(v(5, 5n * NOK), 't', 62_000); // a new gap after 3
    expect(store.flagGaps(100_000, 30_000)).toEqual([expect.objectContaining({ after: 3, next: 5 })]);
    expect(store.events('seq-gap')).toHaveLength(2);
  });

  test('the payer key is pinned by the first voucher (or the config); a forged or foreign voucher is refused', () => {
    store.offer(v(1, NOK), 't');
    const other = new KeyStore(path.join(dir, 'mallory'));
    expect(store.offer(v(2, 2n * NOK, { key: other }), 't')).toMatchObject({ status: 'refused', field: 'payerKey' });
    expect(store.offer({ ...v(2, 2n * NOK), amount: '9.000000000' }, 't')).toMatchObject({ status: 'refused', field: 'sig' });
    const wrongPayee = signVoucher(
      { payer: 'p-1', payee: 'elsewhere', seq: 1, amountNano: NOK, currency: 'NOK', ledgerHead: HEAD, issuedAtMs: 1 },
      keys.keyFor('p-1'),
    );
    expect(store.offer(wrongPayee, 't')).toMatchObject({ status: 'refused', field: 'payee' });
    store.close();
    store = new CollectorStore(path.join(dir, 'data2'), new Set(['ww']), { 'p-1': other.keyFor('p-1').publicKey });
    expect(store.offer(v(1, NOK), 't')).toMatchObject({ status: 'refused', field: 'payerKey' }); // the config pins another key
  });
});
