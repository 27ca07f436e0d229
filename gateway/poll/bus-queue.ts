/**
 * BusQueue: one transaction at a time per physical bus (docs/architecture.md §9).
 *
 * A transaction is one job (usually one Modbus request/response; a write and
 * its read-back run as one job so nothing slips in between). Jobs run in FIFO
 * order, except that writes are taken ahead of every pending read (an
 * operator's or a policy's actuation must not wait behind a poll backlog).
 * An optional inter-frame gap keeps the bus quiet for `interFrameGapMs` after
 * each transaction (serial devices that need turnaround time); an idle bus
 * does not wait. Different buses are independent: one queue per busKey,
 * handed out by a `BusQueues` registry that its owner (the FieldBus) keeps;
 * there is no module-level registry.
 * A job that fails only fails its own caller; the queue moves on.
 * The queue is bounded: past `maxPending` waiting transactions a new one is
 * refused at once (GW_ERR_QUEUE_FULL) — an overloaded bus sheds, it never
 * queues more (pollers keep one poll per device outstanding anyway).
 */
import { systemClock, sleep, type Clock } from '../base/clock';
import { QueueClosedError, QueueFullError } from './errors';

/** Default bound of waiting transactions per bus. */
export const DEFAULT_MAX_PENDING = 1024;

export type TransactionPriority = 'read' | 'write';

export interface BusQueueOptions {
  /** Quiet time between two transactions, ms (default 0). */
  interFrameGapMs?: number;
  /** Waiting transactions beyond which new ones are refused (default 1024). */
  maxPending?: number;
  clock?: Clock;
}

interface Pending {
  job: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** The queues of the buses one owner drives: one per bus key, created on first use. */
export class BusQueues {
  private readonly queues = new Map<string, BusQueue>();

  /** The queue of a bus, created on first use (with `opts`; later calls get the same queue). */
  for(busKey: string, opts?: BusQueueOptions): BusQueue {
    let q = this.queues.get(busKey);
    if (!q) {
      q = new BusQueue(busKey, opts);
      this.queues.set(busKey, q);
    }
    return q;
  }

  /** Close and forget the queue of a bus. */
  release(busKey: string): void {
    this.queues.get(busKey)?.close();
    this.queues.delete(busKey);
  }

  /** Close and forget every queue. */
  releaseAll(): void {
    for (const busKey of [...this.queues.keys()]) this.release(busKey);
  }
}

export class BusQueue {
  readonly busKey: string;
  readonly interFrameGapMs: number;
  readonly maxPending: number;
  private readonly clock: Clock;
  private readonly writes: Pending[] = [];
  private readonly reads: Pending[] = [];
  private draining = false;
  private closed = false;
  private lastEndMs = Number.NEGATIVE_INFINITY;

  constructor(busKey: string, opts: BusQueueOptions = {}) {
    this.busKey = busKey;
    this.interFrameGapMs = Math.max(0, opts.interFrameGapMs ?? 0);
    this.maxPending = Math.max(1, opts.maxPending ?? DEFAULT_MAX_PENDING);
    this.clock = opts.clock ?? systemClock;
  }

  /** Run `job` when the bus is free; resolves/rejects with the job's own result. */
  run<T>(job: () => Promise<T>, opts: { priority?: TransactionPriority } = {}): Promise<T> {
    if (this.closed) return Promise.reject(new QueueClosedError(this.busKey));
    if (this.pending >= this.maxPending) return Promise.reject(new QueueFullError(this.busKey, this.maxPending));
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { job, resolve: resolve as (v: unknown) => void, reject };
      (opts.priority === 'write' ? this.writes : this.reads).push(entry);
      if (!this.draining) void this.drain();
    });
  }

  /** Transactions waiting (not counting the one running). */
  get pending(): number {
    return this.writes.length + this.reads.length;
  }

  get busy(): boolean {
    return this.draining;
  }

  /** Reject every waiting transaction and refuse new ones; the running one finishes. */
  close(): void {
    this.closed = true;
    for (const p of [...this.writes.splice(0), ...this.reads.splice(0)]) p.reject(new QueueClosedError(this.busKey));
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending > 0) {
        if (this.interFrameGapMs > 0) {
          const wait = this.lastEndMs + this.interFrameGapMs - this.clock.now();
          if (wait > 0) await sleep(this.clock, wait);
        }
        const next = this.writes.shift() ?? this.reads.shift();
        if (!next) break;
        try {
          next.resolve(await next.job());
        } catch (e) {
          next.reject(e);
        } finally {
          this.lastEndMs = this.clock.now();
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
