/**
 * What payees have actually RECEIVED, per channel (docs/settlement.md,
 * "Funded channels"): the only thing that lowers what an account owes in the
 * core (and so the only thing that can lift a credit cut-off).
 *
 * Two sources record here: a buyer's voucher accepted by this gateway as
 * payee (market/buyer-payments.ts, `via: 'voucher'`), and a payee's
 * collector reporting what it received of this gateway's vouchers
 * (payee-sync.ts, `via: 'receivables'`). Each advance is committed with the
 * next ledger batch as a `payment-received` event together with the core's
 * settle of the difference, so the two never part; at start the latest
 * per channel is read back from those events.
 */
import { formatMoney, parseDecimal, MONEY_FRAC } from '../base/decimal';
import type { Logger } from '../base/log';
import type { LedgerStore } from '../ledger/store';
import type { BatchSettlement, BatchSettler } from '../meter/metering-service';

export const PAYMENT_RECEIVED = 'payment-received';

export interface Received {
  channel: string;
  payer: string;
  payee: string;
  seq: number;
  amountNano: bigint;
  atMs: number;
  /** The buyer's signed voucher (JSON), when it arrived here. */
  voucher?: string;
}

export interface PaymentsHost {
  addSettler(s: BatchSettler): void;
  removeSettler(s: BatchSettler): void;
  requestSettlement(): void;
}

export class PaymentsIn implements BatchSettler {
  private readonly latest = new Map<string, Received>();
  private pending: BatchSettlement[] = [];

  constructor(
    private readonly host: PaymentsHost,
    private readonly log: Logger,
  ) {}

  /** Read the latest received per channel back from the ledger's events. */
  load(ledger: Pick<LedgerStore, 'events'>): void {
    for (const e of ledger.events({ kinds: [PAYMENT_RECEIVED], limit: 1_000_000 })) {
      const d = e.detail;
      if (typeof d.channel !== 'string' || typeof d.seq !== 'number' || typeof d.amount !== 'string') continue;
      const [payer, payee] = d.channel.split('>');
      const r: Received = {
        channel: d.channel,
        payer: payer ?? '',
        payee: payee ?? '',
        seq: d.seq,
        amountNano: parseDecimal(d.amount, MONEY_FRAC),
        atMs: e.tsMs,
      };
      if (typeof d.voucher === 'string') r.voucher = d.voucher;
      const prev = this.latest.get(r.channel);
      if (!prev || r.seq > prev.seq) this.latest.set(r.channel, r);
    }
  }

  start(): void {
    this.host.addSettler(this);
  }

  stop(): void {
    this.host.removeSettler(this);
  }

  of(channel: string): Received | undefined {
    return this.latest.get(channel);
  }

  all(): Received[] {
    return [...this.latest.values()];
  }

  /** Σ received of the channels `payer` pays. */
  receivedBy(payer: string): bigint {
    let sum = 0n;
    for (const r of this.latest.values()) if (r.payer === payer) sum += r.amountNano;
    return sum;
  }

  /**
   * The payee received `amountNano` (cumulative) through `seq`. Returns false
   * (nothing recorded) when that is not ahead of what was already recorded.
   */
  record(r: Omit<Received, 'atMs'> & { atMs?: number }, via: 'voucher' | 'receivables'): boolean {
    const prev = this.latest.get(r.channel);
    if (prev && (r.seq <= prev.seq || r.amountNano < prev.amountNano)) return false;
    const atMs = r.atMs ?? Date.now();
    this.latest.set(r.channel, { ...r, atMs });
    const settle = r.amountNano - (prev?.amountNano ?? 0n);
    const detail: Record<string, string | number> = {
      channel: r.channel,
      seq: r.seq,
      amount: formatMoney(r.amountNano),
      settled: formatMoney(settle),
      via,
    };
    if (r.voucher) detail.voucher = r.voucher;
    this.pending.push({ account: r.payer, settleNano: settle, event: { kind: PAYMENT_RECEIVED, account: r.payer, tsMs: atMs, detail } });
    this.log.info({ channel: r.channel, seq: r.seq, amount: detail.amount, via }, 'payment received');
    this.host.requestSettlement();
    return true;
  }

  due(): BatchSettlement[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }
}
