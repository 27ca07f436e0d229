/**
 * Failed editor logins per remote address (docs/policies.md "Who may edit
 * policies"): an address with `maxFailures` wrong passwords within
 * `windowMs` is refused (429) until the oldest of them is older than the
 * window. Other addresses, and so the operator, are not affected: the limit
 * is on the guesser, never a lock-out of the one editor user. A correct
 * login clears its address.
 *
 * Memory is bounded: at most `maxAddresses` addresses are remembered; past
 * that the ones that failed longest ago are forgotten first.
 */
export interface LoginLimiterOptions {
  maxFailures?: number; // default 5
  windowMs?: number; // default 60 000
  maxAddresses?: number; // default 10 000
  now?: () => number;
}

export class LoginLimiter {
  /** address → times of its recent failures, oldest first; Map order = least recently failed first. */
  private readonly failures = new Map<string, number[]>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(opts: LoginLimiterOptions = {}) {
    this.maxFailures = opts.maxFailures ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds until `address` may try again; 0 when it may now. */
  retryAfterMs(address: string): number {
    const times = this.recent(address);
    if (times.length < this.maxFailures) return 0;
    return Math.max(1, (times[0] as number) + this.windowMs - this.now());
  }

  fail(address: string): void {
    const times = this.recent(address);
    times.push(this.now());
    if (times.length > this.maxFailures) times.shift();
    this.failures.delete(address);
    this.failures.set(address, times);
    while (this.failures.size > this.maxAddresses) {
      this.failures.delete(this.failures.keys().next().value as string);
    }
  }

  succeed(address: string): void {
    this.failures.delete(address);
  }

  private recent(address: string): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    const since = this.now() - this.windowMs;
    while (times.length > 0 && (times[0] as number) <= since) times.shift();
    if (times.length === 0) this.failures.delete(address);
    return times;
  }
}
