/**
 * VoucherIssuer: the settlement extension (start/stop). With every metered
 * batch it issues a voucher for each channel whose unvouchered amount
 * (accrued − last voucher amount) reached the threshold; when an interval
 * ends, for every channel with a non-zero unvouchered amount.
 *
 * It signs only for accounts this gateway operates (its devices' accounts):
 * a buyer's channel is paid by the buyer's own vouchers (market/). A voucher
 * never exceeds its channel's deposit (`settlement.payees.<payee>.deposit`):
 * past it the channel stays at the deposit and a `deposit-exhausted` event
 * says so once. Issuing settles nothing in the core: only what the payee
 * RECEIVED lowers what is owed (settle/payee-sync.ts), so the gateway paying
 * itself never lifts a credit cut-off. A channel waits while `gate` says it
 * is resyncing (after a restore, docs/settlement.md), and continues from the
 * seq and amount its payee last received when that is ahead of the ledger.
 *
 * Vouchers are issued INSIDE the metering service's commit (BatchSettler):
 * the next seq and the vouchered amount come from the committed ledger
 * (channels()) plus what was metered since its last commit; the voucher
 * commits at once, in one transaction with that money, synced to disk
 * (docs/ledger.md, "Durability"), and is published only after that commit. A crash at any instant either
 * committed the voucher (it is in the ledger, its seq is taken) or not (it
 * was never seen outside the process, and the same seq is issued afresh),
 * so no seq is ever reused and no two different vouchers share one.
 */
import { formatMoney, parseDecimal, MONEY_FRAC } from '../base/decimal';
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
  /** Per payee: the cap of each channel to it (decimal money string). */
  payees?: Record<string, { deposit?: string }>;
}

/** Whether a channel may be settled now, and the last seq/amount published for it when ahead of the ledger. */
export interface SettleGate {
  ready(channel: string): boolean;
  floor(channel: string): { seq: number; amountNano: bigint } | undefined;
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
  gate?: SettleGate;
}

export class VoucherIssuer implements BatchSettler {
  readonly thresholdNano: bigint;
  private timer: NodeJS.Timeout | null = null;
  private intervalDue = false;
  private readonly onBatch = (b: CommittedBatch): void => this.published(b);
  private readonly deposits = new Map<string, bigint>();
  /** Channels whose deposit-exhausted event was already recorded (since start). */
  private readonly exhausted = new Set<string>();

  constructor(private readonly d: VoucherIssuerDeps) {
    this.thresholdNano = parseDecimal(String(d.settlement.threshold), MONEY_FRAC);
    if (this.thresholdNano <= 0n) throw new RangeError(`settlement threshold must be above 0, got ${d.settlement.threshold}`);
    for (const [payee, p] of Object.entries(d.settlement.payees ?? {})) {
      if (p.deposit !== undefined) this.deposits.set(payee, parseDecimal(String(p.deposit), MONEY_FRAC));
    }
  }

  /** The cap of a channel to `payee`, undefined when none is set. */
  depositOf(payee: string): bigint | undefined {
    return this.deposits.get(payee);
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
      if (!this.d.keys.operates(payer)) continue; // a buyer: it pays with its own vouchers
      if (this.d.gate && !this.d.gate.ready(id)) continue; // resyncing after a restore: nothing issued
      const floor = this.d.gate?.floor(id);
      const lastSeq = Math.max(row?.lastSeq ?? 0, floor?.seq ?? 0);
      const vouchered = maxBig(row?.voucheredNano ?? 0n, floor?.amountNano ?? 0n);
      const accrued = (row?.accruedNano ?? 0n) + (add?.amountNano ?? 0n);
      const deposit = this.deposits.get(payee);
      const amount = deposit !== undefined && accrued > deposit ? maxBig(deposit, vouchered) : accrued;
      const unvouchered = amount - vouchered;
      if (deposit !== undefined && accrued > deposit && !this.exhausted.has(id)) {
        this.exhausted.add(id);
        out.push({
          account: payer,
          settleNano: 0n,
          event: {
            kind: 'deposit-exhausted',
            account: payer,
            tsMs: pending.atMs,
            detail: { channel: id, deposit: formatMoney(deposit), accrued: formatMoney(accrued) },
          },
        });
        this.d.log.warn(
          { channel: id, deposit: formatMoney(deposit), accrued: formatMoney(accrued) },
          'channel deposit exhausted: vouchers stay at the deposit',
        );
      }
      if (unvouchered <= 0n || (unvouchered < this.thresholdNano && !interval)) continue;
      try {
        const v = signVoucher(
          { payer, payee, seq: lastSeq + 1, amountNano: amount, currency: this.d.currency, ledgerHead, issuedAtMs: pending.atMs },
          this.d.keys.keyFor(payer),
        );
        out.push({
          account: payer,
          settleNano: 0n,
          voucher: { channel: id, seq: v.seq, amountNano: amount, json: JSON.stringify(v), issuedAtMs: pending.atMs },
        });
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

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);
