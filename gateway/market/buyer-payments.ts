/**
 * A buyer pays with vouchers signed by its own key (docs/marketplace.md):
 * the seller's side of that. The gateway is the PAYEE of a buyer's channel
 * (buyer → device account), so it verifies every voucher it receives:
 *
 *  - the voucher itself: fields, channel = payer>payee, ed25519 signature
 *    (settle/voucher-check.ts);
 *  - the payer is the buyer the token belongs to, the payee an account whose
 *    data was offered to it, the currency the gateway's;
 *  - the payer key is the one registered for the buyer
 *    (`m2m-gateway token --buyer ID --payer-key KEY`, even for its first
 *    voucher), else the one pinned for the channel by its first accepted
 *    voucher (kept in the ledger);
 *  - seq = the last accepted seq + 1, amount ≥ the last accepted amount,
 *    amount ≤ the channel's deposit (set by the buyer; no voucher is
 *    accepted before it).
 *
 * An accepted voucher is recorded as received (settle/payments-in.ts): it
 * lowers what the buyer owes and is kept, with the voucher, in the ledger.
 * A refused one is recorded as a `voucher-refused` event and pauses the
 * buyer's deliveries until a valid voucher arrives. Deliveries also pause
 * while the buyer owes (billed − paid) more than the offer's credit window.
 */
import { formatMoney, parseDecimal, MONEY_FRAC } from '../base/decimal';
import type { BillView, EventBus } from '../events';
import type { Logger } from '../base/log';
import { channelId } from '../ledger/batch-aggregates';
import type { LedgerEvent, LedgerStore } from '../ledger/store';
import type { CommittedBatch } from '../meter/metering-service';
import type { CompiledOffer } from '../policy/compile';
import { checkVoucher } from '../settle/voucher-check';
import type { PaymentsIn } from '../settle/payments-in';
import type { SignedVoucher } from '../settle/voucher';

export const CHANNEL_DEPOSIT = 'channel-deposit';
export const VOUCHER_REFUSED = 'voucher-refused';

export type VoucherAnswer =
  | { type: 'voucher-accepted'; channel: string; seq: number; amount: string; duplicate?: true; bill: BillView }
  | { type: 'voucher-refused'; channel: string | null; seq: number | null; field: string; reason: string; bill: BillView | null };

export type DepositAnswer =
  | { type: 'deposit'; channel: string; deposit: string; bill: BillView }
  | { type: 'error'; error: { code: string; message: string; field: string } };

export interface BuyerPaymentsDeps {
  payments: PaymentsIn;
  ledger: Pick<LedgerStore, 'channels' | 'events'>;
  metering: {
    on(e: 'batch', l: (b: CommittedBatch) => void): unknown;
    off(e: 'batch', l: (b: CommittedBatch) => void): unknown;
    addEvents(e: LedgerEvent[]): void;
  };
  /** The active offers (with their billing lines). */
  offers: () => readonly CompiledOffer[];
  /** The key registered for a buyer ahead of its vouchers (undefined: the first voucher pins it); may throw. */
  registeredKey?: (buyer: string) => string | undefined;
  /** Device id → its account (the payee of its data). */
  deviceAccount: (device: string) => string | undefined;
  currency: string;
  bus: EventBus;
  log: Logger;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const AMOUNT = /^(?:0|[1-9]\d{0,17})(?:\.\d{1,9})?$/;

export class BuyerPayments {
  private readonly accrued = new Map<string, bigint>();
  private readonly deposits = new Map<string, bigint>();
  private readonly refused = new Set<string>();
  private readonly onBatch = (b: CommittedBatch): void => this.billed(b);

  constructor(private readonly d: BuyerPaymentsDeps) {}

  start(): void {
    for (const c of this.d.ledger.channels()) this.accrued.set(c.channel, c.accruedNano);
    for (const e of this.d.ledger.events({ kinds: [CHANNEL_DEPOSIT], limit: 1_000_000 })) {
      if (typeof e.detail.channel === 'string' && typeof e.detail.deposit === 'string')
        this.deposits.set(e.detail.channel, parseDecimal(e.detail.deposit, MONEY_FRAC));
    }
    this.d.metering.on('batch', this.onBatch);
  }

  stop(): void {
    this.d.metering.off('batch', this.onBatch);
  }

  /** The channel `buyer` pays for `device`'s data. */
  channelFor(buyer: string, device: string): string | undefined {
    const payee = this.d.deviceAccount(device);
    return payee === undefined ? undefined : `${buyer}>${payee}`;
  }

  /** Whether readings of `device` are withheld from `buyer` now. */
  paused(buyer: string, device: string): boolean {
    const ch = this.channelFor(buyer, device);
    return ch !== undefined && this.bill(ch).paused;
  }

  /** The smallest credit window among the offers billed on `channel`; undefined = none. */
  private creditOf(channel: string): bigint | undefined {
    let min: bigint | undefined;
    for (const o of this.d.offers()) {
      if (o.credit === undefined) continue;
      for (const l of o.lines) {
        if (`${l.buyer}>${this.d.deviceAccount(l.device)}` !== channel) continue;
        const c = parseDecimal(o.credit, MONEY_FRAC);
        if (min === undefined || c < min) min = c;
      }
    }
    return min;
  }

  private offeredChannel(channel: string): boolean {
    return this.d.offers().some((o) => o.lines.some((l) => `${l.buyer}>${this.d.deviceAccount(l.device)}` === channel));
  }

  bill(channel: string): BillView {
    const [payer = '', payee = ''] = channel.split('>');
    const accrued = this.accrued.get(channel) ?? 0n;
    const paid = this.d.payments.of(channel);
    const paidNano = paid?.amountNano ?? 0n;
    const owed = accrued > paidNano ? accrued - paidNano : 0n;
    const credit = this.creditOf(channel);
    const deposit = this.deposits.get(channel);
    return {
      channel,
      payer,
      payee,
      accrued: formatMoney(accrued),
      paid: formatMoney(paidNano),
      seq: paid?.seq ?? 0,
      owed: formatMoney(owed),
      credit: credit === undefined ? null : formatMoney(credit),
      deposit: deposit === undefined ? null : formatMoney(deposit),
      paused: this.refused.has(channel) || (credit !== undefined && owed > credit),
    };
  }

  /** `{"type":"deposit","channel","deposit"}` from `buyer`: set (or raise) its channel's cap. */
  setDeposit(buyer: string, msg: Record<string, unknown>): DepositAnswer {
    const bad = (field: string, message: string): DepositAnswer => ({
      type: 'error',
      error: { code: 'GW_ERR_BAD_REQUEST', message: `${field}: ${message}`, field },
    });
    const channel = msg.channel;
    if (typeof channel !== 'string' || !channel.startsWith(`${buyer}>`) || !this.offeredChannel(channel)) {
      return bad('channel', `expected "${buyer}>payee" of a channel offered to ${buyer}`);
    }
    const text = msg.deposit;
    if (typeof text !== 'string' || !AMOUNT.test(text)) return bad('deposit', 'expected a decimal string like "5.000000000"');
    const nano = parseDecimal(text, MONEY_FRAC);
    const paid = this.d.payments.of(channel)?.amountNano ?? 0n;
    if (nano < paid) return bad('deposit', `must not be below the ${formatMoney(paid)} already paid`);
    const was = this.deposits.get(channel);
    if (was !== nano) {
      this.deposits.set(channel, nano);
      this.d.metering.addEvents([
        { kind: CHANNEL_DEPOSIT, account: buyer, tsMs: Date.now(), detail: { channel, deposit: formatMoney(nano) } },
      ]);
    }
    return { type: 'deposit', channel, deposit: formatMoney(nano), bill: this.bill(channel) };
  }

  /** `{"type":"voucher","voucher":{…},"deposit"?}` from `buyer`. */
  receive(buyer: string, msg: Record<string, unknown>): VoucherAnswer | DepositAnswer {
    const value = msg.voucher;
    const ch = isRecord(value) && typeof value.channel === 'string' ? value.channel : null;
    const seqOf = isRecord(value) && typeof value.seq === 'number' ? value.seq : null;
    if (msg.deposit !== undefined && ch !== null) {
      const dep = this.setDeposit(buyer, { channel: ch, deposit: msg.deposit });
      if (dep.type === 'error') return dep;
    }
    const refuse = (field: string, reason: string): VoucherAnswer => {
      const known = ch !== null && ch.startsWith(`${buyer}>`) && this.offeredChannel(ch);
      if (known) {
        this.refused.add(ch);
        this.d.metering.addEvents([
          {
            kind: VOUCHER_REFUSED,
            account: buyer,
            tsMs: Date.now(),
            detail: { channel: ch, seq: seqOf, field, reason: reason.slice(0, 500) },
          },
        ]);
      }
      this.d.log.warn({ buyer, channel: ch, seq: seqOf, field, reason }, 'buyer voucher refused');
      return { type: 'voucher-refused', channel: ch, seq: seqOf, field, reason, bill: known ? this.bill(ch) : null };
    };
    const r = checkVoucher(value);
    if (!r.ok) return refuse(r.field, r.reason);
    const v: SignedVoucher = r.voucher;
    if (v.payer !== buyer) return refuse('payer', `payer: ${v.payer} is not the buyer this token belongs to (${buyer})`);
    if (!this.offeredChannel(v.channel)) return refuse('channel', `channel: no data of ${v.payee} is offered to ${buyer}`);
    if (v.currency !== this.d.currency) return refuse('currency', `currency: ${v.currency}, this gateway bills in ${this.d.currency}`);
    let registered: string | undefined;
    try {
      registered = this.d.registeredKey?.(buyer);
    } catch (err) {
      return refuse('payerKey', `payerKey: the registered buyer keys cannot be read (${(err as Error).message})`);
    }
    if (registered !== undefined && v.payerKey !== registered)
      return refuse('payerKey', 'payerKey: not the key registered for this buyer (token --payer-key)');
    const last = this.d.payments.of(v.channel);
    const pinned = last?.voucher ? (JSON.parse(last.voucher) as SignedVoucher).payerKey : undefined;
    if (registered === undefined && pinned !== undefined && v.payerKey !== pinned)
      return refuse('payerKey', 'payerKey: not the key pinned for this channel by its first voucher');
    if (last?.voucher !== undefined && v.seq === last.seq && v.sig === (JSON.parse(last.voucher) as SignedVoucher).sig) {
      return { type: 'voucher-accepted', channel: v.channel, seq: v.seq, amount: v.amount, duplicate: true, bill: this.bill(v.channel) };
    }
    const lastSeq = last?.seq ?? 0;
    if (v.seq !== lastSeq + 1) {
      return refuse('seq', `seq: ${v.seq} ${v.seq <= lastSeq ? 'repeats an accepted seq' : 'skips a seq'}; expected ${lastSeq + 1}`);
    }
    const amount = parseDecimal(v.amount, MONEY_FRAC);
    if (last && amount < last.amountNano)
      return refuse('amount', `amount: ${v.amount} is below the ${formatMoney(last.amountNano)} already paid (amounts are cumulative)`);
    const deposit = this.deposits.get(v.channel);
    if (deposit === undefined)
      return refuse('deposit', 'deposit: the channel has no deposit yet; send {"type":"deposit",…} or a deposit with the voucher');
    if (amount > deposit) return refuse('amount', `amount: ${v.amount} exceeds the channel's deposit ${formatMoney(deposit)}`);
    this.refused.delete(v.channel);
    this.d.payments.record(
      { channel: v.channel, payer: v.payer, payee: v.payee, seq: v.seq, amountNano: amount, voucher: JSON.stringify(v) },
      'voucher',
    );
    return { type: 'voucher-accepted', channel: v.channel, seq: v.seq, amount: v.amount, bill: this.bill(v.channel) };
  }

  /** The buyer vouchers received, oldest first (GET /api/vouchers lists them beside the issued ones). */
  receivedVouchers(ledger: Pick<LedgerStore, 'events'>): SignedVoucher[] {
    const out: SignedVoucher[] = [];
    for (const e of ledger.events({ kinds: ['payment-received'], limit: 1_000_000 })) {
      if (typeof e.detail.voucher === 'string') out.push(JSON.parse(e.detail.voucher) as SignedVoucher);
    }
    return out;
  }

  private billed(b: CommittedBatch): void {
    const touched = new Set<string>();
    for (const u of b.batch.usage ?? []) {
      if (u.payee === '') continue;
      const channel = channelId(u.account, u.payee);
      this.accrued.set(channel, (this.accrued.get(channel) ?? 0n) + u.amountNano);
      touched.add(channel);
    }
    for (const e of b.batch.events)
      if (e.kind === 'payment-received' && typeof e.detail.channel === 'string') touched.add(e.detail.channel);
    for (const ch of touched) if (this.offeredChannel(ch)) this.d.bus.emit('bill', this.bill(ch));
  }
}
