/**
 * LinkSupervisor: the one owner of open/reconnect for a link.
 *
 * Several device pollers share a link; none of them opens it. They
 * `acquire()` the link's supervisor (one per link object, handed out by the
 * `LinkSupervisors` registry of the FieldBus), wait on `whenUp()` while it is not up, and `release()` it when
 * they stop. While acquired, the supervisor opens the link and, whenever it
 * goes 'down' (socket closed, device rebooted, connect refused), retries
 * `link.open()` with capped exponential backoff with full jitter until it is
 * 'up' again — so polling resumes after a device restart without a gateway
 * restart. A link that is deliberately closed (state 'closed') is left
 * closed. Failed attempts are logged once (the first one after the link was
 * up), then at debug level. The last release stops retrying; closing the
 * link stays the daemon's job.
 */
import { EventEmitter } from 'node:events';
import type { LinkState, ModbusLink } from '../links/link';
import type { Logger } from '../base/log';
import { Backoff } from '../base/backoff';
import { systemClock, type Clock } from '../base/clock';

export interface LinkSupervisorOptions {
  logger: Logger;
  /** First retry delay ceiling, ms (default 500). */
  baseMs?: number;
  /** Largest retry delay, ms (default 30 000). */
  capMs?: number;
  random?: () => number;
  clock?: Clock;
}

/** The supervisors of the links one owner drives: one per link object, created on first use. */
export class LinkSupervisors {
  private readonly supervisors = new Map<ModbusLink, LinkSupervisor>();

  /** The supervisor of a link, created on first use with these options (later calls get the same one). */
  for(link: ModbusLink, opts: LinkSupervisorOptions): LinkSupervisor {
    let s = this.supervisors.get(link);
    if (!s) {
      s = new LinkSupervisor(link, opts);
      this.supervisors.set(link, s);
    }
    return s;
  }

  /** Forget every supervisor (their pollers have released them). */
  clear(): void {
    this.supervisors.clear();
  }
}

export class LinkSupervisor extends EventEmitter {
  readonly link: ModbusLink;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private users = 0;
  private timer: unknown = null;
  private opening = false;
  private warned = false;
  private waiters = new Set<() => void>();
  private readonly onState = (state: LinkState) => this.handleState(state);

  constructor(link: ModbusLink, opts: LinkSupervisorOptions) {
    super();
    this.link = link;
    this.logger = opts.logger.child({ link: link.id });
    this.clock = opts.clock ?? systemClock;
    this.backoff = new Backoff({ baseMs: opts.baseMs ?? 500, capMs: opts.capMs ?? 30_000, random: opts.random });
  }

  get isUp(): boolean {
    return this.link.state === 'up';
  }

  /** Number of pollers holding the supervisor. */
  get holders(): number {
    return this.users;
  }

  /** Start supervising (first holder) — opens the link if it is not up. */
  acquire(): void {
    this.users += 1;
    if (this.users > 1) return;
    this.link.on('state', this.onState);
    if (!this.isUp) this.attempt();
  }

  /** Stop supervising when the last holder leaves (the link is not closed). */
  release(): void {
    if (this.users === 0) return;
    this.users -= 1;
    if (this.users > 0) return;
    this.link.removeListener('state', this.onState);
    this.cancelRetry();
    this.flushWaiters();
  }

  /** Resolves true once the link is up; false when `signal` aborts or supervision ends first. */
  whenUp(signal?: AbortSignal): Promise<boolean> {
    if (this.isUp) return Promise.resolve(true);
    if (signal?.aborted || this.users === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve(this.isUp);
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private handleState(state: LinkState): void {
    this.emit('state', state);
    if (state === 'up') {
      this.backoff.reset();
      this.warned = false;
      this.cancelRetry();
      this.flushWaiters();
    } else if (state === 'down') {
      this.scheduleRetry();
    } else if (state === 'closed') {
      this.cancelRetry(); // closed on purpose: do not reopen
    }
  }

  private flushWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  private cancelRetry(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private scheduleRetry(): void {
    if (this.users === 0 || this.opening || this.timer !== null) return;
    const delay = this.backoff.next();
    this.logger.debug({ delayMs: delay, attempt: this.backoff.attempt }, `reconnecting link ${this.link.id}`);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.attempt();
    }, delay);
  }

  private attempt(): void {
    if (this.users === 0 || this.opening || this.isUp) return;
    this.opening = true;
    this.link.open().then(
      () => {
        this.opening = false;
      },
      (e: unknown) => {
        this.opening = false;
        if (!this.warned) {
          this.warned = true;
          this.logger.warn({ err: (e as Error).message }, `link ${this.link.id} unreachable; retrying with backoff`);
        }
        if (this.link.state !== 'closed') this.scheduleRetry();
      },
    );
  }
}
