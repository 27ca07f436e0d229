/**
 * The ledger's contract (DESIGN.md §6): a durable, hash-chained record of
 * every core batch, keyed by names (device, point, account, payee), never by
 * core indices — the daemon maps between the two.
 *
 * Implemented by `SqliteLedger` (gateway/ledger/sqlite-store.ts); every
 * implementation runs the contract suite in test/unit/ledger-contract.ts.
 *
 * Units: quantities are bigint micro-units, money bigint nano-currency, times
 * integer UTC epoch milliseconds. Nothing here is ever a float.
 */

/** A raw reading as decoded (engineering value as text). Retained for a while, then pruned. */
export interface LedgerReading {
  device: string;
  point: string;
  tsMs: number;
  /** Decimal string, "true"/"false" or text — whatever the point decodes to. */
  value: string;
}

/** Consumption of one counter between two readings, independent of tariffs. */
export interface LedgerDelta {
  device: string;
  point: string;
  /** The device's (payer) account: untariffed consumption is totalled under (account, payee ''). */
  account: string;
  qtyMicro: bigint;
  fromMs: number;
  toMs: number;
}

/** Money accrued on one tariff line for one delta (or one time-of-use segment of it). */
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

/** A signed cumulative voucher as the settle layer issued it (DESIGN.md §6). */
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

/** Everything one core batch commits, in one transaction, as one chained entry. */
export interface LedgerBatch {
  atMs: number;
  policyVersion: number;
  readings: LedgerReading[];
  deltas: LedgerDelta[];
  accruals: LedgerAccrual[];
  events: LedgerEvent[];
  state: LedgerState;
  /** Vouchers issued with this batch (settle layer), committed atomically with the account state they settle. */
  vouchers?: LedgerVoucher[];
  /** A policy change (normally via `recordPolicy`). */
  policy?: LedgerPolicy;
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
  /** Vouchers ordered by (channel, seq); `sinceSeq` is exclusive. */
  vouchers(channel?: string, sinceSeq?: number): LedgerVoucherRecord[];
  events(filter?: LedgerEventsFilter): LedgerEventRecord[];
  /** Ids of the events a batch recorded, in the batch's order. */
  eventIdsOf(batchSeq: number): number[];
  /** The complete committed core state (every row). */
  loadState(): LedgerState;
  head(): LedgerHead;
  /** Record a policy change as its own chained batch with a 'policy-change' event. Version must increase. */
  recordPolicy(version: number, hash: string, flowsJson: string, atMs: number): LedgerCommit;
  latestPolicy(): LedgerPolicyRecord | null;
  /**
   * Retention: drop the raw readings of every batch committed before `olderThanMs` (whole batches; each
   * step is itself a chained batch with a 'readings-pruned' event). Totals, buckets, bodies, events,
   * vouchers and state are never dropped. Returns how many readings were dropped.
   */
  pruneReadings(olderThanMs: number): number;
  close(): void;
}
