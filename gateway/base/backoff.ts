/**
 * Exponential backoff with full jitter, capped (docs/architecture.md §9).
 *
 * For attempt n >= 1 the ceiling is min(capMs, baseMs × 2^(n−1)) and the
 * delay is uniform in [minMs, ceiling] ("full jitter" when minMs = 0). The
 * poller uses baseMs = minMs = pollMs, so a failing device is never polled
 * faster than its configured rate, and backs off to the cap (30 s default).
 * `random` is injectable for tests.
 */
export interface BackoffOptions {
  baseMs: number;
  /** Largest delay (default 30 000 ms). */
  capMs?: number;
  /** Smallest delay (default 0 = full jitter). Clamped to the ceiling. */
  minMs?: number;
  /** Uniform in [0, 1) (default Math.random). */
  random?: () => number;
}

export const DEFAULT_BACKOFF_CAP_MS = 30_000;

export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  readonly minMs: number;
  private readonly random: () => number;
  private attempts = 0;

  constructor(opts: BackoffOptions) {
    if (!(opts.baseMs > 0)) throw new RangeError(`backoff baseMs must be > 0, got ${opts.baseMs}`);
    this.baseMs = opts.baseMs;
    this.capMs = Math.max(opts.capMs ?? DEFAULT_BACKOFF_CAP_MS, 0);
    this.minMs = Math.max(opts.minMs ?? 0, 0);
    this.random = opts.random ?? Math.random;
  }

  /** Upper bound of the delay for attempt n (n >= 1). */
  ceilingMs(attempt: number): number {
    const n = Math.max(1, Math.floor(attempt));
    // 2^(n-1) overflows to Infinity for huge n; min() keeps the cap
    return Math.min(this.capMs, this.baseMs * 2 ** Math.min(n - 1, 1024));
  }

  /** A jittered delay for attempt n (n >= 1), in whole milliseconds. */
  delayMs(attempt: number): number {
    const ceiling = this.ceilingMs(attempt);
    const floor = Math.min(this.minMs, ceiling);
    const r = Math.min(Math.max(this.random(), 0), 1 - Number.EPSILON);
    return Math.min(ceiling, Math.floor(floor + r * (ceiling - floor + 1)));
  }

  /** Count one more failure and return its delay. */
  next(): number {
    this.attempts += 1;
    return this.delayMs(this.attempts);
  }

  /** Failures counted since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  reset(): void {
    this.attempts = 0;
  }
}
