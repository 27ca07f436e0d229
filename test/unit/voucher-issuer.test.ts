/**
 * VoucherIssuer against fakes of the metering service and the ledger: the
 * threshold and interval rules, seq and amounts from the committed ledger
 * plus what was metered since its last commit, publishing only committed vouchers, and a
 * key failure that defers the voucher without failing the batch.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BatchSettler, PendingSettlement } from '../../gateway/meter/metering-service';
import type { LedgerAccrual, LedgerBatch, LedgerChannelRow } from '../../gateway/ledger/store';
import { silentLogger } from '../../gateway/base/log';
import { KeyStore } from '../../gateway/settle/keys';
import type { SignedVoucher } from '../../gateway/settle/voucher';
import { checkVoucher } from '../../gateway/settle/voucher-check';
import { VoucherIssuer } from '../../gateway/settle/voucher-issuer';

const HEAD = 'ef'.repeat(32);

class FakeMetering extends EventEmitter {
  settler: BatchSettler | null = null;
  requests = 0;
  setSettler(s: BatchSettler | null): void {
    this.settler = s;
  }
  requestSettlement(): void {
    this.requests += 1;
  }
}

const accrual = (payer: string, payee: string, amountNano: bigint): LedgerAccrual => ({
  device: 'd',
  point: 'p',
  account: payer,
  payee,
  channel: `${payer}>${payee}`,
  qtyMicro: 1n,
  amountNano,
  priceNano: 1n,
  fromMs: 0,
  toMs: 1,
  policyVersion: 1,
});
const AT = Date.parse('2026-11-25T12:00:00.000Z');
/** What the metering service hands the settler: the accruals not committed yet, summed per channel. */
const batch = (accruals: LedgerAccrual[]): PendingSettlement => {
  const channels = new Map<string, { channel: string; payer: string; payee: string; accruedNano: bigint }>();
  for (const a of accruals) {
    const c = channels.get(a.channel) ?? { channel: a.channel, payer: a.account, payee: a.payee, accruedNano: 0n };
    c.accruedNano += a.amountNano;
    channels.set(a.channel, c);
  }
  return { atMs: AT, channels: [...channels.values()] };
};
const committedBatch = (vouchers: LedgerBatch['vouchers']): LedgerBatch => ({
  atMs: AT,
  policyVersion: 1,
  events: [],
  state: { slots: [], lines: [], accounts: [] },
  vouchers,
});

describe('VoucherIssuer', () => {
  let dir: string;
  let metering: FakeMetering;
  let channels: LedgerChannelRow[];
  let published: SignedVoucher[];
  let issuer: VoucherIssuer;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-issuer-'));
    metering = new FakeMetering();
    channels = [{ channel: 'a>w', payer: 'a', payee: 'w', accruedNano: 5_000_000_000n, voucheredNano: 4_000_000_000n, lastSeq: 7 }];
    published = [];
    issuer = new VoucherIssuer({
      metering,
      ledger: { channels: () => channels, head: () => ({ seq: 3, hash: HEAD }) },
      keys: KeyStore.forDataDir(dir),
      currency: 'NOK',
      settlement: { threshold: '2', intervalS: 60 },
      log: silentLogger(),
      publish: (v) => published.push(v),
    });
  });
  afterEach(() => {
    issuer.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('below the threshold: nothing; at it: seq lastSeq+1 for the committed accrued plus this batch; issuing settles nothing (only what the payee receives does)', () => {
    expect(issuer.due(batch([accrual('a', 'w', 999_999_999n)]))).toEqual([]); // unvouchered 1.999999999
    const [s] = issuer.due(batch([accrual('a', 'w', 600_000_000n), accrual('a', 'w', 400_000_000n)]));
    expect(s).toMatchObject({ account: 'a', settleNano: 0n, voucher: { channel: 'a>w', seq: 8, amountNano: 6_000_000_000n } });
    const v = JSON.parse(s!.voucher!.json) as SignedVoucher;
    expect(v).toMatchObject({
      channel: 'a>w',
      payer: 'a',
      payee: 'w',
      seq: 8,
      amount: '6.000000000',
      currency: 'NOK',
      ledgerHead: HEAD,
      issuedAt: '2026-11-25T12:00:00.000Z',
    });
    expect(checkVoucher(v).ok).toBe(true);
  });

  test('a new channel starts at seq 1, its names from the accrual', () => {
    const due = issuer.due(batch([accrual('b', 'x', 3_000_000_000n)]));
    expect(due.map((d) => [d.voucher!.channel, d.voucher!.seq, d.settleNano])).toEqual([['b>x', 1, 0n]]);
  });

  test('an interval end vouchers every channel with a non-zero unvouchered amount, once', () => {
    channels.push({ channel: 'c>y', payer: 'c', payee: 'y', accruedNano: 9n, voucheredNano: 9n, lastSeq: 2 });
    issuer.endInterval();
    expect(metering.requests).toBe(1);
    const due = issuer.due(batch([]));
    expect(due.map((d) => [d.voucher!.channel, d.voucher!.seq, d.voucher!.amountNano, d.settleNano])).toEqual([
      ['a>w', 8, 5_000_000_000n, 0n],
    ]);
    expect(issuer.due(batch([]))).toEqual([]); // consumed
  });

  test('start() arms the interval timer and attaches to the metering service; stop() detaches', () => {
    jest.useFakeTimers();
    try {
      issuer.start();
      expect(metering.settler).toBe(issuer);
      jest.advanceTimersByTime(59_999);
      expect(metering.requests).toBe(0);
      jest.advanceTimersByTime(1);
      expect(metering.requests).toBe(1);
      jest.advanceTimersByTime(120_000);
      expect(metering.requests).toBe(3);
      issuer.stop();
      expect(metering.settler).toBeNull();
      jest.advanceTimersByTime(600_000);
      expect(metering.requests).toBe(3);
    } finally {
      jest.useRealTimers();
    }
  });

  test('publishes the vouchers of a committed batch, and only while started', () => {
    const [s] = issuer.due(batch([accrual('a', 'w', 5_000_000_000n)]));
    const committed = { seq: 4, hash: HEAD, batch: committedBatch([s!.voucher!]) };
    metering.emit('batch', committed);
    expect(published).toEqual([]);
    issuer.start();
    metering.emit('batch', committed);
    expect(published).toEqual([JSON.parse(s!.voucher!.json)]);
    issuer.stop();
    metering.emit('batch', committed);
    expect(published).toHaveLength(1);
  });

  test('a payer whose key cannot be had: no voucher for it, the others still issue', () => {
    const due = issuer.due(batch([accrual('bad/name', 'w', 5_000_000_000n), accrual('a', 'w', 5_000_000_000n)]));
    expect(due.map((d) => d.voucher!.channel)).toEqual(['a>w']);
  });

  test('a threshold that is not above zero is refused', () => {
    const mk = (threshold: string) =>
      new VoucherIssuer({
        metering,
        ledger: { channels: () => [], head: () => ({ seq: 0, hash: HEAD }) },
        keys: KeyStore.forDataDir(dir),
        currency: 'NOK',
        settlement: { threshold, intervalS: 1 },
        log: silentLogger(),
        publish: () => undefined,
      });
    expect(() => mk('0')).toThrow(/above 0/);
  });
});
