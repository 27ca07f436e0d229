/**
 * VoucherIssuer: the settlement extension (start/stop). With every metered
 * batch it issues a voucher for each channel whose unvouchered amount
 * (accrued − last voucher amount) reached the threshold; when an interval
 * ends, for every channel with a non-zero unvouchered amount.
 *
 * Vouchers are issued INSIDE the metering service's commit (BatchSettler):
 * the next seq and the vouchered amount come from the committed ledger
 * (channels()) plus what was metered since its last commit, the voucher and
 * the account state it settles (the core's unsettled amount lowered by
 * core.settle) commit at once in one transaction — synced to disk, see
 * docs/ledger.md, "Durability" — and a voucher is published only after that commit. A crash at any instant either
 * committed the voucher (it is in the ledger, its seq is taken) or not (it
 * was never seen outside the process, and the same seq is issued afresh),
 * so no seq is ever reused and no two different vouchers share one.
 */
import { parseDecimal, MONEY_FRAC } from '../base/decimal';
import type { BatchSettlement, BatchSettler, CommittedBatch, PendingSettlement } from '../meter/metering-service';
import type { LedgerChannelRow, LedgerStore } from '../ledger/store';
import type { Logger } from '../base/log';
import type { KeyStore } from './keys';
import { signVoucher, type SignedVoucher } from './voucher';

export interface SettlementConfig {
  /** Decimal money string: issue once a channel's unvouchered amount reaches it. */
  threshold: string;
  /** Every this many seconds, issue for every channel with a non-zero unvouchered amount. */
  intervalS: number;
}

/** What the issuer needs of the MeteringService: a settlement hook in its commit, and its 'batch' event. */
export interface SettlementHost {
  setSettler(s: BatchSettler | null): void;
  requestSettlement(): void;
  on(event: 'batch', listener: (b: CommittedBatch) => void): unknown;
  off(event: 'batch', listener: (b: CommittedBatch) => void): unknown;
}

export interface VoucherIssuerDeps {
  metering: SettlementHost;
  ledger: Pick<LedgerStore, 'channels' | 'head'>;
  keys: KeyStore;
  currency: string;
  settlement: SettlementConfig;
  log: Logger;
  /** Called with each voucher once it is committed (API stream, uplink). */
  publish: (v: SignedVoucher) => void;
}

export class VoucherIssuer implements BatchSettler {
  readonly thresholdNano: bigint;
  private timer: NodeJS.Timeout | null = null;
  private intervalDue = false;
  private readonly onBatch = (b: CommittedBatch): void => this.published(b);

  constructor(private readonly d: VoucherIssuerDeps) {
    this.thresholdNano = parseDecimal(String(d.settlement.threshold), MONEY_FRAC);
    if (this.thresholdNano <= 0n) throw new RangeError(`settlement threshold must be above 0, got ${d.settlement.threshold}`);
  }

  start(): void {
    this.d.metering.setSettler(this);
    this.d.metering.on('batch', this.onBatch);
    this.timer = setInterval(() => this.endInterval(), this.d.settlement.intervalS * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.d.metering.setSettler(null);
    this.d.metering.off('batch', this.onBatch);
  }

  /** An interval ended: issue for every channel with something unvouchered (with the next flush). */
  endInterval(): void {
    this.intervalDue = true;
    this.d.metering.requestSettlement();
  }

  due(pending: PendingSettlement): BatchSettlement[] {
    const interval = this.intervalDue;
    if (pending.channels.length === 0 && !interval) return [];
    this.intervalDue = false;
    const fresh = new Map<string, { payer: string; payee: string; amountNano: bigint }>();
    for (const c of pending.channels) fresh.set(c.channel, { payer: c.payer, payee: c.payee, amountNano: c.accruedNano });
    const committed = new Map<string, LedgerChannelRow>(this.d.ledger.channels().map((c) => [c.channel, c]));
    const ids = new Set(fresh.keys());
    if (interval) for (const id of committed.keys()) ids.add(id);
    const ledgerHead = this.d.ledger.head().hash;
    const out: BatchSettlement[] = [];
    for (const id of [...ids].sort()) {
      const row = committed.get(id);
      const add = fresh.get(id);
      const payer = row?.payer ?? add!.payer;
      const payee = row?.payee ?? add!.payee;
      const accrued = (row?.accruedNano ?? 0n) + (add?.amountNano ?? 0n);
      const unvouchered = accrued - (row?.voucheredNano ?? 0n);
      if (unvouchered <= 0n || (unvouchered < this.thresholdNano && !interval)) continue;
      try {
        const v = signVoucher(
          { payer, payee, seq: (row?.lastSeq ?? 0) + 1, amountNano: accrued, currency: this.d.currency, ledgerHead, issuedAtMs: pending.atMs },
          this.d.keys.keyFor(payer),
        );
        out.push({ account: payer, settleNano: unvouchered, voucher: { channel: id, seq: v.seq, amountNano: accrued, json: JSON.stringify(v), issuedAtMs: pending.atMs } });
      } catch (err) {
        this.d.log.error({ err, channel: id }, 'cannot sign a voucher; the amount stays unvouchered');
      }
    }
    return out;
  }

  private published(b: CommittedBatch): void {
    for (const v of b.batch.vouchers ?? []) {
      const voucher = JSON.parse(v.json) as SignedVoucher;
      this.d.log.info({ channel: v.channel, seq: v.seq, amount: voucher.amount, batch: b.seq }, 'voucher issued');
      this.d.publish(voucher);
    }
  }
}
