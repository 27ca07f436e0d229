/**
 * The ledger's contract (docs/ledger.md): it keeps money, not readings. A
 * durable, hash-chained record of commits, keyed by names (device, point,
 * account, payee), never by core indices — the daemon maps between the two.
 * Each commit holds the core state it leaves (latest raw value per counter
 * slot, carried remainders, account balances), what it adds to the per-line
 * totals and hourly aggregates, and in full the rare things: events,
 * vouchers, policy changes. Its size and its writes grow with lines,
 * accounts, channels, hours and events, never with the poll rate.
 *
 * Implemented by `SqliteLedger` (gateway/ledger/sqlite-store.ts); every
 * implementation runs the contract suite in test/unit/ledger-contract.ts.
 *
 * Units: quantities are bigint micro-units, money bigint nano-currency, times
 * integer UTC epoch milliseconds. Nothing here is ever a float.
 */

/**
 * What one line (device, point, account, payee) consumed and accrued in one
 * UTC hour: the form a commit adds to the totals and the hourly aggregates.
 * Payee '' holds untariffed consumption (amount 0).
 */
export interface LedgerUsage {
  device: string;
  point: string;
  account: string;
  payee: string;
  /** Start of the UTC hour (a multiple of 3 600 000). */
  hourMs: number;
  quantityMicro: bigint;
  amountNano: bigint;
}

/** How much metering a commit summarises (recorded as counts; the items themselves are not kept). */
export interface LedgerMetered {
  readings: number;
  /** Non-zero counter deltas. */
  deltas: number;
  /** Accruals (priced deltas, or time-of-use pieces of them). */
  accruals: number;
}

/** Consumption of one counter between two readings, independent of tariffs (folded into usage). */
export interface LedgerDelta {
  device: string;
  point: string;
  /** The device's (payer) account: untariffed consumption is totalled under (account, payee ''). */
  account: string;
  qtyMicro: bigint;
  fromMs: number;
  toMs: number;
}

/** Money accrued on one tariff line for one delta (or one time-of-use segment of it); folded into usage. */
export interface LedgerAccrual {
  device: string;
  point: string;
  /** Payer account. */
  account: string;
  payee: string;
  /** Channel id, always `${account}>${payee}`. */
  channel: string;
  qtyMicro: bigint;
  amountNano: bigint;
  priceNano: bigint;
  fromMs: number;
  toMs: number;
  policyVersion: number;
}

export type EventDetailValue = string | number | boolean | null;

export interface LedgerEvent {
  kind: string;
  device?: string;
  point?: string;
  account?: string;
  tsMs: number;
  /** Finite numbers only; money and quantities as decimal strings. */
  detail: Record<string, EventDetailValue>;
}

export interface LedgerSlotState {
  device: string;
  point: string;
  hasBaseline: boolean;
  /** Unsigned raw counter value (up to 2^64-1 for 64-bit counters). */
  lastRaw: bigint;
  lastTsMs: number;
  heldRaw: bigint | null;
  heldTsMs: number;
}

export interface LedgerLineState {
  device: string;
  point: string;
  payee: string;
  account: string;
  remainder: bigint;
}

export interface LedgerAccountState {
  account: string;
  unsettledNano: bigint;
  overLimit: boolean;
}

/** Core state keyed by names. In a batch: only the touched rows (upserts). From `loadState()`: all rows. */
export interface LedgerState {
  slots: LedgerSlotState[];
  lines: LedgerLineState[];
  accounts: LedgerAccountState[];
}

/** A signed cumulative voucher as the settle layer issued it (docs/architecture.md §6). */
export interface LedgerVoucher {
  channel: string;
  /** Strictly increasing per channel. */
  seq: number;
  /** Cumulative; never decreases per channel. */
  amountNano: bigint;
  /** The signed voucher JSON, stored verbatim. */
  json: string;
  issuedAtMs: number;
}

/** A compiled policy (Node-RED flows) taking effect. */
export interface LedgerPolicy {
  /** Strictly increasing. */
  version: number;
  hash: string;
  flowsJson: string;
}

/**
 * Everything one commit records, in one transaction, as one chained entry.
 * Consumption and money come as `usage` (per line and hour, what the
 * metering service sends) and/or as `deltas` + `accruals`, which the ledger
 * folds into usage by the rules of batch-aggregates.ts (an untariffed delta
 * counts under payee ''). Neither is kept item by item.
 */
export interface LedgerBatch {
  atMs: number;
  policyVersion: number;
  /** Counts for the record; default: no readings, the lengths of `deltas` and `accruals`. */
  metered?: LedgerMetered;
  usage?: LedgerUsage[];
  deltas?: LedgerDelta[];
  accruals?: LedgerAccrual[];
  events: LedgerEvent[];
  /** Upserts of the core state: only the rows that changed. */
  state: LedgerState;
  /** Vouchers issued with this batch (settle layer), committed atomically with the account state they settle. */
  vouchers?: LedgerVoucher[];
  /** A policy change (normally via `recordPolicy`). */
  policy?: LedgerPolicy;
  /**
   * Close only these devices' ended hours (a commit of one device group,
   * gateway/meter/commit-groups.ts); absent: every device's.
   */
  closeDevices?: readonly string[];
}

export interface LedgerHead {
  /** 0 for an empty ledger; batches count from 1. */
  seq: number;
  /** 64 hex digits; 64 zeros for an empty ledger (the genesis prev-hash). */
  hash: string;
}

export interface LedgerTotalsFilter {
  device?: string;
  point?: string;
  /** Window start (inclusive). Rounded DOWN to the hour. */
  fromMs?: number;
  /** Window end (exclusive). Rounded UP to the hour. */
  toMs?: number;
}

export interface LedgerTotal {
  device: string;
  point: string;
  account: string;
  /** '' for untariffed consumption. */
  payee: string;
  quantityMicro: bigint;
  amountNano: bigint;
}

export interface LedgerAccountRow {
  account: string;
  unsettledNano: bigint;
  voucheredNano: bigint;
}

export interface LedgerChannelRow {
  channel: string;
  payer: string;
  payee: string;
  accruedNano: bigint;
  voucheredNano: bigint;
  /** Sequence number of the latest voucher, 0 when none was issued. */
  lastSeq: number;
}

export interface LedgerVoucherRecord extends LedgerVoucher {
  /** The ledger batch that recorded it. */
  batchSeq: number;
}

/**
 * Which vouchers: of one channel or of one payee's channels; `sinceSeq` exclusive, `sinceMs`
 * (issued at or after) inclusive; `limit`: the oldest that many by issue time, with the rest of
 * the last one's millisecond (a page; sqlite-queries.ts says how it always moves on).
 */
export interface LedgerVouchersFilter {
  channel?: string;
  payee?: string;
  sinceSeq?: number;
  sinceMs?: number;
  limit?: number;
}

export interface LedgerEventsFilter {
  kinds?: string[];
  device?: string;
  account?: string;
  /** Events with tsMs >= sinceMs; the oldest `limit` of them (a paging cursor). */
  sinceMs?: number;
  /** Default 1000. Without `sinceMs`: the newest `limit` events. Results are always in (tsMs, id) order, oldest first. */
  limit?: number;
  /** With `sinceMs`: the newest `limit` events since then rather than the oldest. */
  newest?: boolean;
}

export interface LedgerEventRecord extends LedgerEvent {
  /** Increasing id, unique in the ledger. */
  id: number;
  batchSeq: number;
}

export interface LedgerPolicyRecord extends LedgerPolicy {
  atMs: number;
  batchSeq: number;
}

export interface LedgerCommit {
  seq: number;
  hash: string;
}

/** An alarm raised and not cleared (the fold of the 'alarm' / 'alarm-clear' events, kept as state). */
export interface LedgerAlarm {
  /** The m2m-alarm node id (`detail.policy` of its events). */
  policy: string;
  device: string;
  point: string;
  /** tsMs of the raising event. */
  sinceMs: number;
}

/** One point's readings in one history interval, downsampled (docs/ledger.md, "History": off by default). */
export interface LedgerSample {
  device: string;
  point: string;
  /** Interval start (UTC epoch ms, a multiple of the interval). */
  atMs: number;
  /** Readings seen in the interval. */
  count: number;
  /** The last value as decoded (decimal string, "true"/"false" or text). */
  last: string;
  /** Numeric points only (null otherwise): smallest, largest and mean value, as decimal strings. */
  min: string | null;
  max: string | null;
  mean: string | null;
}

export interface LedgerHistoryFilter {
  device?: string;
  point?: string;
  /** Interval starts >= fromMs. */
  fromMs?: number;
  /** Interval starts < toMs. */
  toMs?: number;
}

export interface LedgerStore {
  /** Commit one batch in one transaction; returns its chain position. Throws (and commits nothing) on invalid input. */
  commitBatch(b: LedgerBatch): LedgerCommit;
  /**
   * Totals per (device, point, account, payee), sorted by that key. Without fromMs/toMs: all time.
   * With a window: the hourly buckets in [fromMs rounded down, toMs rounded up to the hour); an
   * accrual or delta (fromMs, toMs] is counted in the UTC hour holding toMs − 1. Exact (bigint).
   */
  ledgerTotals(filter?: LedgerTotalsFilter): LedgerTotal[];
  /** Every account with core state or a channel as payer, sorted; vouchered = Σ latest voucher per channel. */
  accounts(): LedgerAccountRow[];
  /** Every channel that accrued or was vouchered, sorted by id. */
  channels(): LedgerChannelRow[];
  /** Record one voucher as its own chained batch (seq strictly increasing, amount never decreasing per channel). */
  recordVoucher(v: LedgerVoucher): LedgerCommit;
  /** The amount of voucher `seq` of `channel`, undefined when it was not issued (one row, no body read). */
  voucherAmount(channel: string, seq: number): bigint | undefined;
  /** Vouchers ordered by (channel, seq); `sinceSeq` is exclusive. */
  vouchers(channel?: string, sinceSeq?: number): LedgerVoucherRecord[];
  /** A page of vouchers (GET /api/vouchers): see LedgerVouchersFilter. */
  voucherPage(filter: LedgerVouchersFilter): LedgerVoucherRecord[];
  events(filter?: LedgerEventsFilter): LedgerEventRecord[];
  /** Ids of the events a batch recorded, in the batch's order. */
  eventIdsOf(batchSeq: number): number[];
  /** The complete committed core state (every row). */
  loadState(): LedgerState;
  head(): LedgerHead;
  /** The canonical body text commit `seq` was hashed over (hash = sha256(prev hash ‖ body)); null when there is none. */
  body(seq: number): string | null;
  /** Record a policy change as its own chained batch with a 'policy-change' event. Version must increase. */
  recordPolicy(version: number, hash: string, flowsJson: string, atMs: number): LedgerCommit;
  latestPolicy(): LedgerPolicyRecord | null;
  /** The alarms raised and not cleared, whatever number of events it took (sorted by policy, device). */
  activeAlarms(): LedgerAlarm[];
  /**
   * Reading history (outside the chain: not money): append downsampled samples, then drop the oldest
   * intervals until the history holds at most `maxBytes`. Returns the samples dropped.
   */
  recordHistory(samples: LedgerSample[], maxBytes: number): number;
  /** Samples ordered by (atMs, device, point). */
  history(filter?: LedgerHistoryFilter): LedgerSample[];
  close(): void;
}
