/**
 * The metering core's contract. Implemented twice:
 *  - `WasmCore` (gateway/core/wasm-core.ts) over build/core.wasm (the fast path),
 *  - `ReferenceCore` (gateway/core/reference.ts), plain BigInt (the oracle).
 * Both must give identical results for identical calls; differential tests
 * hold them to that.
 *
 * Units (docs/architecture.md §3): counter quantities are i64 micro-units of the point's
 * unit; prices are nano-currency per unit; amounts are nano-currency.
 * amount = qty_micro * price_nano / 10^6 with the remainder carried per line.
 * All times are UTC epoch milliseconds (integers, held in `number`).
 */

/** Raw counter modulus in bits: 16/32/64 wrap at 2^n; 0 = no modulus (float counters, raw already micro-units). */
export type CounterWidth = 0 | 16 | 32 | 64;

/** One metered counter point: a (device, point) pair. Slots are dense indexes 0..n-1 chosen by the daemon. */
export interface SlotConfig {
  slot: number;
  widthBits: CounterWidth;
  /** Micro-units per raw count: scale × 10^6, exact (scale has at most 6 fraction digits). 0-width slots use 1n. */
  microPerCount: bigint;
  /** Largest plausible rate in micro-units per second; a faster jump is held (not billed) until confirmed. 0n = no limit. */
  maxRateMicroPerS: bigint;
}

/** A price band compiled to UTC: [fromMs, toMs) at priceNano per unit. */
export interface PriceSegment {
  fromMs: number;
  toMs: number;
  priceNano: bigint;
}

/** A tariff line prices one slot for one channel (payer account -> payee). */
export interface TariffLine {
  line: number; // dense index 0..n-1
  slot: number;
  channel: number;
  /** Price outside every segment. */
  priceNano: bigint;
  /** Sorted, non-overlapping time-of-use segments (may be empty = flat tariff). */
  segments: PriceSegment[];
}

export interface ChannelConfig {
  channel: number; // dense index 0..n-1
  account: number; // dense index 0..n-1 of the payer account
}

export interface CreditLimit {
  account: number;
  /** Crossing above limitNano of unsettled amount raises `credit-over`. */
  limitNano: bigint;
  /** Falling to or below rearmNano raises `credit-under` and re-arms. rearmNano <= limitNano. */
  rearmNano: bigint;
}

/** Policy tables, swapped atomically between batches. */
export interface PolicyTables {
  version: number;
  lines: TariffLine[];
  channels: ChannelConfig[];
  creditLimits: CreditLimit[];
}

export interface Reading {
  slot: number;
  /** Raw counter value (unsigned value of the register for 16/32/64-bit widths; micro-units for width 0). */
  raw: bigint;
  tsMs: number;
}

/** Consumption of one slot between two readings (independent of tariffs). */
export interface Delta {
  slot: number;
  qtyMicro: bigint;
  fromMs: number;
  toMs: number;
}

/** Money accrued on a tariff line for one delta (one per segment touched, or one for a flat tariff). */
export interface Accrual {
  line: number;
  slot: number;
  channel: number;
  qtyMicro: bigint;
  amountNano: bigint;
  priceNano: bigint;
  fromMs: number;
  toMs: number;
  policyVersion: number;
}

export type CoreEventKind =
  | 'baseline' // first reading of a slot: nothing billed
  | 'rollover' // counter wrapped at its width
  | 'reset' // counter went back implausibly: meter replaced/restarted, delta = new value
  | 'held' // jump above max rate: not billed until confirmed by the next reading
  | 'confirmed' // a held jump was confirmed and billed
  | 'ignored' // duplicate or out-of-order timestamp
  | 'overflow' // an amount or total would not fit i64: nothing billed for that delta
  | 'unknown-slot' // reading for a slot that was never configured
  | 'credit-over' // account unsettled amount crossed above its limit
  | 'credit-under'; // ... and fell back to its re-arm level

export interface CoreEvent {
  kind: CoreEventKind;
  slot?: number;
  account?: number;
  tsMs: number;
  /** kind-specific value: raw value for counter events, unsettled amount for credit events. */
  value?: bigint;
}

export interface BatchResult {
  deltas: Delta[];
  accruals: Accrual[];
  events: CoreEvent[];
}

/** Everything needed to resume after a restart (persisted by the ledger with each batch). */
export interface SlotState {
  slot: number;
  hasBaseline: boolean;
  lastRaw: bigint;
  lastTsMs: number;
  /** A held (unconfirmed) jump, if any. */
  heldRaw: bigint | null;
  heldTsMs: number;
}
export interface LineState {
  line: number;
  remainder: bigint; // 0 <= remainder < 10^6
}
export interface AccountState {
  account: number;
  unsettledNano: bigint;
  overLimit: boolean;
}
export interface CoreState {
  slots: SlotState[];
  lines: LineState[];
  accounts: AccountState[];
}

/** Which parts of the state a snapshot covers; an omitted list means all of that kind. */
export interface SnapshotFilter {
  slots?: Iterable<number>;
  lines?: Iterable<number>;
  accounts?: Iterable<number>;
}

export interface MeteringCore {
  /** (Re)define slots. Existing slots keep their state when their config is unchanged. */
  configureSlots(slots: SlotConfig[]): void;
  /** Swap in new policy tables; takes effect for the next batch. */
  setPolicy(tables: PolicyTables): void;
  /** Meter one batch of readings (any order of slots; per slot in time order). */
  process(readings: Reading[]): BatchResult;
  /** Mark an amount of an account as settled (vouchered & redeemed): lowers unsettled, may re-arm a limit. */
  settle(account: number, amountNano: bigint): CoreEvent[];
  /** The state to persist; with `only`, just those slots, lines and accounts (the ones a batch touched). */
  snapshot(only?: SnapshotFilter): CoreState;
  restore(state: CoreState): void;
}
