/**
 * What the HTTP/WebSocket API needs from the daemon. The daemon implements
 * `ApiBackend`; the API never reaches the ledger, pollers or settlement any
 * other way. Shapes are docs/architecture.md §8; money and quantities are decimal
 * strings made by the backend (`formatMoney`/`formatQty` from base/decimal),
 * never numbers. Times going out are ISO 8601 UTC strings; times coming in
 * (filters) are UTC epoch milliseconds, already validated by the API.
 *
 * Methods may answer synchronously or with a promise. For client-facing
 * failures throw the classes of ./errors (UnknownDeviceError,
 * UnknownPointError, PointNotWritableError, InvalidValueError,
 * WriteFailedError, UnavailableError); anything else becomes an opaque 500.
 */
import type { DeviceState } from '../poll/device-poller';
import type { LinkState } from '../links/link';
import type { DataDelivery, EventBus, EventView, OrderView, PointValue, Voucher } from '../events';
import type { MetricsRegistry } from '../base/metrics';

export type { DeviceState, DataDelivery, EventView, OrderView, PointValue, Voucher };

/** GET /api/devices: a device's state, when it was last read, and the last value of every point. */
export interface PointView {
  value: string | boolean | null;
  unit: string;
  at: string | null;
}

export interface DeviceView {
  id: string;
  link: string;
  state: DeviceState;
  lastReadAt: string | null;
  points: Record<string, PointView>;
}

type MaybePromise<T> = T | Promise<T>;

/** GET /api/health. `status` is 'ok' when every link is up, else 'degraded'. */
export interface HealthView {
  status: 'ok' | 'degraded' | 'starting' | 'stopping';
  version: string;
  uptimeS: number;
  links: Array<{ id: string; state: LinkState }>;
  /** With settlement: 'resyncing' while channels wait for their payee after a start (docs/settlement.md). */
  settlement?: { state: 'ok' | 'resyncing'; resyncing: string[]; restored: string[] };
  /**
   * The policies in force: `version` of the active tables (0: none), `ok`
   * false while flows.json is rejected (the previous version stays active),
   * `error` naming each bad node (docs/policies.md).
   */
  policy?: PolicyHealth;
}

export interface PolicyHealth {
  version: number;
  ok: boolean;
  error: string | null;
}

/** Filter of GET /api/ledger: the window is [from, to) in epoch ms, each end optional. */
export interface LedgerFilter {
  device?: string;
  point?: string;
  from?: number;
  to?: number;
}

/** One row per (device, point, account, payee) with totals over the window. */
export interface LedgerRow {
  device: string;
  point: string;
  account: string;
  payee: string;
  /** Decimal string in the point's unit ("12.345000"). */
  quantity: string;
  /** Decimal string in the currency ("1.234567890"). */
  amount: string;
  currency: string;
}

export interface AccountView {
  id: string;
  /** Accrued, not yet received by the payees (what credit limits count; decimal string). */
  unsettled: string;
  /** Received by the payees (decimal string). */
  received?: string;
  /** Covered by issued vouchers (decimal string). */
  vouchered: string;
  currency: string;
}

export interface ChannelView {
  /** "payer>payee" */
  id: string;
  payer: string;
  payee: string;
  accrued: string;
  vouchered: string;
  /** Sequence number of the latest voucher, 0 when none yet. */
  lastSeq: number;
  /** What the payee has received (a buyer's accepted voucher; a payee collector's report). */
  received?: string;
  /** The channel's cap; absent when it has none. */
  deposit?: string;
}

/**
 * GET /api/vouchers: issued at or after `since` (epoch ms); a page of the oldest `limit` (1..1000, default
 * 1000) by issue time, with every other voucher of the last one's millisecond, then ordered by
 * (channel, seq). The next page: since = the newest issuedAt received.
 */
export interface VoucherFilter {
  channel?: string;
  since?: number;
  limit?: number;
  /** Only this payee's channels (a payee token), before the page is cut. */
  payee?: string;
}

/** GET /api/events: newest first, at most `limit` (1..1000, default 100). */
export interface EventFilter {
  kind?: string;
  device?: string;
  since?: number;
  limit: number;
}

/** GET /api/orders: newest first, at most `limit` (1..1000, default 100). */
export interface OrderFilter {
  state?: 'open' | 'acked' | 'closed';
  device?: string;
  limit: number;
}

export interface ApiBackend {
  health(): MaybePromise<HealthView>;
  devices(): MaybePromise<DeviceView[]>;
  /** Write, read back, answer the confirmed value. */
  writePoint(device: string, point: string, value: PointValue): Promise<{ value: PointValue }>;
  ledger(filter: LedgerFilter): MaybePromise<LedgerRow[]>;
  accounts(): MaybePromise<AccountView[]>;
  channels(): MaybePromise<ChannelView[]>;
  vouchers(filter: VoucherFilter): MaybePromise<Voucher[]>;
  events(filter: EventFilter): MaybePromise<EventView[]>;
  /** Service orders (docs/policies.md, "m2m-service-order"). */
  orders(filter: OrderFilter): MaybePromise<OrderView[]>;
  /** The daemon's metrics; GET /metrics renders them together with the API's own (`m2m_api_*`). */
  metrics(): MetricsRegistry;
  /** Emits 'reading', 'event', 'voucher' as they are committed. */
  readonly stream: EventBus;
  /**
   * POST /api/policies: compile the m2m-* nodes a Node-RED elsewhere deployed
   * (node-red-contrib-m2m-gateway), activate them and keep them in flows.json.
   * Throws EditorOwnsFlowsError while the embedded editor runs, PoliciesRejectedError when they do not compile.
   */
  deployPolicies(nodes: unknown[]): MaybePromise<{ version: number }>;
  /** Optional: called for each reading delivered to a buyer principal over the stream (§7 metering). */
  meterDelivery?(delivery: DataDelivery): void;
  /** Optional: whether readings of `device` are withheld from `buyer` (unpaid beyond the credit window). */
  deliveryPaused?(buyer: string, device: string): boolean;
  /** Optional: a buyer's `{"type":"voucher",…}` stream message; the answer is sent back as it is. */
  receiveVoucher?(buyer: string, msg: Record<string, unknown>): object;
  /** Optional: a buyer's `{"type":"deposit",…}` stream message. */
  setDeposit?(buyer: string, msg: Record<string, unknown>): object;
  /** GET /api/checkpoints: signed ledger checkpoints, newest first. */
  checkpoints?(): MaybePromise<object[]>;
}
