/**
 * What the HTTP/WebSocket API needs from the daemon. The daemon implements
 * `ApiBackend`; the API never reaches the ledger, pollers or settlement any
 * other way. Shapes are DESIGN.md §8; money and quantities are decimal
 * strings made by the backend (`formatMoney`/`formatQty` from core/decimal),
 * never numbers. Times going out are ISO 8601 UTC strings; times coming in
 * (filters) are UTC epoch milliseconds, already validated by the API.
 *
 * Methods may answer synchronously or with a promise. For client-facing
 * failures throw the classes of ./errors (UnknownDeviceError,
 * UnknownPointError, PointNotWritableError, InvalidValueError,
 * WriteFailedError, UnavailableError); anything else becomes an opaque 500.
 */
import type { EventEmitter } from 'node:events';
import type { DeviceState, DeviceView, PointView } from '../devices/device-views';
import type { LinkState } from '../links/link';
import type { SignedVoucher } from '../settle/voucher';
import type { MetricsRegistry } from './metrics';

export type { DeviceState, DeviceView, PointView };

type MaybePromise<T> = T | Promise<T>;

/** GET /api/health. `status` is 'ok' when every link is up, else 'degraded'. */
export interface HealthView {
  status: 'ok' | 'degraded' | 'starting' | 'stopping';
  version: string;
  uptimeS: number;
  links: Array<{ id: string; state: LinkState }>;
}

/**
 * A value written to or read back from a point: a decimal string for numeric
 * points ("21.5"), a boolean for coils/bool, text for `string(N)` points.
 * The API turns a JSON number in the request into its decimal string.
 */
export type PointValue = string | boolean;

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
  /** Accrued, not yet covered by a voucher (decimal string). */
  unsettled: string;
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
}

/** A signed cumulative voucher, exactly as DESIGN.md §6 (the settle area's type, under the API's name). */
export type Voucher = SignedVoucher;

/** GET /api/vouchers: `since` (epoch ms) keeps vouchers issued at or after it. */
export interface VoucherFilter {
  channel?: string;
  since?: number;
}

/**
 * An event: alarm raised/cleared, counter reset/rollover, quarantine,
 * policy change, credit limit... `kind` is a short kebab-case name
 * ('alarm', 'alarm-clear', 'reset', 'rollover', 'quarantine', 'policy', ...).
 */
export interface EventView {
  id: string;
  kind: string;
  at: string;
  device?: string;
  point?: string;
  account?: string;
  message?: string;
  /** Kind-specific details; money/quantities inside are decimal strings. */
  data?: Record<string, unknown>;
}

/** GET /api/events: newest first, at most `limit` (1..1000, default 100). */
export interface EventFilter {
  kind?: string;
  device?: string;
  since?: number;
  limit: number;
}

/** A fresh set of point values of one device (what the pollers just read). */
export interface ReadingMessage {
  device: string;
  /** ISO time of the read. */
  at: string;
  points: Record<string, { value: PointValue | null; unit: string }>;
}

/** Messages of `ApiBackend.stream` (what the WebSocket and, later, buyers receive). */
export interface StreamEvents {
  reading: [ReadingMessage];
  event: [EventView];
  voucher: [Voucher];
}

/** One reading delivered to a buyer over the stream: to be metered as quantity 1 of `data:<point>` per point (§7). */
export interface DataDelivery {
  account: string;
  device: string;
  points: string[];
  at: string;
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
  /** The daemon's metrics; GET /metrics renders them together with the API's own (`m2m_api_*`). */
  metrics(): MetricsRegistry;
  /** Emits 'reading', 'event', 'voucher' as they are committed. */
  readonly stream: EventEmitter<StreamEvents>;
  /** Optional: called for each reading delivered to a buyer principal over the stream (§7 metering). */
  meterDelivery?(delivery: DataDelivery): void;
}
