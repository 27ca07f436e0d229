/**
 * The daemon's side of the API: answers every route from the ledger, the
 * device views and the link states, formatting money and quantities as
 * decimal strings (docs/architecture.md §3). Writes go to a `PointWriter` (the pollers).
 */
import { formatMoney, formatQty } from '../base/decimal';
import type { DeviceViews } from './device-views';
import type { LedgerEventRecord, LedgerStore } from '../ledger/store';
import type { LinkState } from '../links/link';
import type {
  AccountView,
  ApiBackend,
  ChannelView,
  DataDelivery,
  EventFilter,
  EventView,
  HealthView,
  LedgerFilter,
  PolicyHealth,
  LedgerRow,
  OrderFilter,
  OrderView,
  PointValue,
  Voucher,
  VoucherFilter,
} from '../api/backend';
import { InvalidValueError, PointNotWritableError, UnknownDeviceError, UnknownPointError, WriteFailedError } from '../api/errors';
import { EncodeError } from '../devices/errors';
import { PointNotFoundError, PointNotWritableError as PollNotWritableError } from '../poll/errors';
import type { PointWriter as FieldWriter } from '../poll/point-writer';
import type { MetricsRegistry } from '../base/metrics';
import type { EventBus } from '../events';
import type { PaymentsIn } from '../settle/payments-in';
import type { BuyerPayments } from '../market/buyer-payments';
import type { PayeeSync } from '../settle/payee-sync';
import type { Checkpointer } from '../settle/checkpoints';

/** The settlement parts the API answers from (attached once they are built). */
export interface SettlementViews {
  payments: PaymentsIn;
  buyers: BuyerPayments;
  payeeSync: PayeeSync | null;
  checkpoints: Checkpointer;
  depositOf: (payee: string) => bigint | undefined;
}

export type PointWriter = (device: string, point: string, value: PointValue) => Promise<{ value: PointValue }>;

export interface GatewayBackendDeps {
  version: string;
  currency: string;
  startedAtMs: number;
  ledger: LedgerStore;
  views: DeviceViews;
  linkStates: () => Array<{ id: string; state: LinkState }>;
  writer: PointWriter;
  metrics: MetricsRegistry;
  events: EventBus;
  stopping: () => boolean;
  /** The policies in force (PolicyService), shown by /api/health. */
  policy: () => PolicyHealth;
  /** Service orders, newest first (policy/service-orders.ts). */
  orders: (filter: OrderFilter) => OrderView[];
  /** Policies pushed from another Node-RED (POST /api/policies); see daemon/gateway.ts. */
  deployPolicies: (nodes: unknown[]) => { version: number };
  /** Meters readings delivered to buyers (the data marketplace, docs/architecture.md §7). */
  meterDelivery?: (delivery: DataDelivery) => void;
}

export class GatewayBackend implements ApiBackend {
  /** The gateway's event bus (events.ts), which the stream hub subscribes to. */
  readonly stream: EventBus;
  private s: SettlementViews | null = null;

  constructor(private readonly d: GatewayBackendDeps) {
    this.stream = d.events;
  }

  attachSettlement(s: SettlementViews): void {
    this.s = s;
  }

  health(): HealthView {
    const links = this.d.linkStates();
    const status = this.d.stopping() ? 'stopping' : links.every((l) => l.state === 'up') ? 'ok' : 'degraded';
    const h: HealthView = {
      status,
      version: this.d.version,
      uptimeS: Math.floor((Date.now() - this.d.startedAtMs) / 1000),
      links,
      policy: this.d.policy(),
    };
    const sync = this.s?.payeeSync?.health();
    if (sync) h.settlement = sync;
    return h;
  }

  devices() {
    return this.d.views.list();
  }

  deployPolicies(nodes: unknown[]): { version: number } {
    return this.d.deployPolicies(nodes);
  }

  writePoint(device: string, point: string, value: PointValue): Promise<{ value: PointValue }> {
    if (!this.d.views.get(device)) throw new UnknownDeviceError(device);
    return this.d.writer(device, point, value);
  }

  ledger(f: LedgerFilter): LedgerRow[] {
    return this.d.ledger.ledgerTotals({ device: f.device, point: f.point, fromMs: f.from, toMs: f.to }).map((t) => ({
      device: t.device,
      point: t.point,
      account: t.account,
      payee: t.payee,
      quantity: formatQty(t.quantityMicro),
      amount: formatMoney(t.amountNano),
      currency: this.d.currency,
    }));
  }

  accounts(): AccountView[] {
    return this.d.ledger.accounts().map((a) => ({
      id: a.account,
      unsettled: formatMoney(a.unsettledNano),
      vouchered: formatMoney(a.voucheredNano),
      currency: this.d.currency,
      ...this.receivedField(this.s?.payments.receivedBy(a.account) ?? 0n),
    }));
  }

  channels(): ChannelView[] {
    return this.d.ledger.channels().map((c) => {
      const received = this.s?.payments.of(c.channel);
      const deposit = this.s?.depositOf(c.payee);
      const bill = received?.voucher !== undefined || this.s?.buyers.bill(c.channel).deposit ? this.s?.buyers.bill(c.channel) : undefined;
      const v: ChannelView = {
        id: c.channel,
        payer: c.payer,
        payee: c.payee,
        accrued: formatMoney(c.accruedNano),
        vouchered: formatMoney(received?.voucher !== undefined ? received.amountNano : c.voucheredNano),
        lastSeq: received?.voucher !== undefined ? received.seq : c.lastSeq,
        ...this.receivedField(received?.amountNano ?? 0n),
      };
      if (bill?.deposit) v.deposit = bill.deposit;
      else if (deposit !== undefined) v.deposit = formatMoney(deposit);
      return v;
    });
  }

  /** Issued vouchers (the ledger's) and, after them, the buyers' vouchers received, each ordered by (channel, seq). */
  vouchers(f: VoucherFilter): Voucher[] {
    const issued = this.d.ledger
      .voucherPage({ channel: f.channel, payee: f.payee, sinceMs: f.since, limit: f.limit })
      .map((v) => JSON.parse(v.json) as Voucher);
    const received = oldestPage(
      (this.s?.buyers.receivedVouchers(this.d.ledger) ?? []).filter(
        (v) =>
          (f.channel === undefined || v.channel === f.channel) &&
          (f.payee === undefined || v.payee === f.payee) &&
          (f.since === undefined || Date.parse(v.issuedAt) >= f.since),
      ),
      f.limit,
      f.since,
    ).sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : a.seq - b.seq));
    return [...issued, ...received];
  }

  /** `received` is shown once a payee has received something. */
  private receivedField(nano: bigint): { received?: string } {
    return nano > 0n ? { received: formatMoney(nano) } : {};
  }

  checkpoints(): object[] {
    return this.s?.checkpoints.list() ?? [];
  }

  deliveryPaused(buyer: string, device: string): boolean {
    return this.s?.buyers.paused(buyer, device) ?? false;
  }

  receiveVoucher(buyer: string, msg: Record<string, unknown>): object {
    if (!this.s) throw new Error('settlement not attached');
    return this.s.buyers.receive(buyer, msg);
  }

  setDeposit(buyer: string, msg: Record<string, unknown>): object {
    if (!this.s) throw new Error('settlement not attached');
    return this.s.buyers.setDeposit(buyer, msg);
  }

  events(f: EventFilter): EventView[] {
    const rows = this.d.ledger.events({
      kinds: f.kind ? [f.kind] : undefined,
      device: f.device,
      sinceMs: f.since,
      limit: f.limit,
      newest: true,
    });
    // The ledger answers oldest first; the API newest first.
    return rows.reverse().map(eventView);
  }

  orders(f: OrderFilter): OrderView[] {
    return this.d.orders(f);
  }

  metrics(): MetricsRegistry {
    return this.d.metrics;
  }

  meterDelivery(delivery: DataDelivery): void {
    this.d.meterDelivery?.(delivery);
  }
}

export function eventView(e: LedgerEventRecord): EventView {
  const v: EventView = { id: String(e.id), kind: e.kind, at: new Date(e.tsMs).toISOString() };
  if (e.device !== undefined) v.device = e.device;
  if (e.point !== undefined) v.point = e.point;
  if (e.account !== undefined) v.account = e.account;
  if (Object.keys(e.detail).length > 0) v.data = { ...e.detail };
  return v;
}

/**
 * A write for the API: the field bus's errors become HTTP answers — an unknown
 * point 404, a point the config does not mark writable 409, a value that cannot
 * be encoded 400, and anything else (not polled, read-only area, link error,
 * read-back mismatch) 502 "not confirmed".
 */
export async function writeForApi(writer: FieldWriter, device: string, point: string, value: PointValue): Promise<{ value: PointValue }> {
  try {
    return await writer.write(device, point, value);
  } catch (err) {
    if (err instanceof PointNotFoundError) throw new UnknownPointError(device, point);
    if (err instanceof PollNotWritableError && !err.configured) throw new PointNotWritableError(device, point);
    if (err instanceof EncodeError) throw new InvalidValueError(err.message);
    throw new WriteFailedError(device, point, (err as Error).message, err);
  }
}

/** The oldest `limit` vouchers by issue time, the rest of the last one's millisecond, and the next one's when all are of `since`'s (as the ledger pages: sqlite-queries.ts). */
function oldestPage<V extends { issuedAt: string }>(list: V[], limit: number | undefined, since: number | undefined): V[] {
  if (limit === undefined || list.length <= limit) return list;
  const times = list.map((v) => Date.parse(v.issuedAt)).sort((a, b) => a - b);
  let cutoff = times[limit - 1]!;
  if (since !== undefined && cutoff <= since) cutoff = times.find((t) => t > since) ?? cutoff;
  return list.filter((v) => Date.parse(v.issuedAt) <= cutoff);
}
