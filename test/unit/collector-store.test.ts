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

  test('amounts must follow seqs; a skipped seq is accepted and the one in between is still checked', () => {
    store.offer(v(1, 2n * NOK), 't');
    expect(store.offer(v(3, 6n * NOK), 't').status).toBe('accepted');
    expect(store.offer(v(2, 7n * NOK), 't')).toMatchObject({ status: 'refused', field: 'amount' }); // above seq 3's
    expect(store.offer(v(2, NOK), 't')).toMatchObject({ status: 'refused', field: 'amount' }); // below seq 1's
    expect(store.offer(v(2, 4n * NOK), 't').status).toBe('accepted');
    expect(store.offer(v(4, 5n * NOK), 't')).toMatchObject({ status: 'refused', field: 'amount' }); // lowered
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
