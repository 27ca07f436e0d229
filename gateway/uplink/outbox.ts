/**
 * The uplink's store-and-forward queue (MQTT.js `Store` style): every message
 * bound northbound is put here first and deleted only once the broker has
 * acknowledged it (PUBACK). `SqliteOutbox` (sqlite-outbox.ts) keeps it on disk;
 * `MemoryOutbox` below is the same contract in memory. Both run the one
 * contract suite in test/unit/outbox-contract.ts.
 *
 * Guarantees of every implementation:
 * - `put` assigns the next `seq` of this outbox: strictly increasing, never
 *   reused (a durable outbox keeps the counter across reopen, even when empty);
 * - `peek` answers entries in `seq` order;
 * - bounded: with `maxQueued` entries queued, `put` first drops the oldest
 *   (it never blocks or fails for being full) and says how many it dropped.
 */
import { OutboxClosedError } from './errors';

export const DEFAULT_MAX_QUEUED = 100_000;

export interface OutboxEntry {
  seq: number;
  topic: string;
  /** The message body as stored (the uplink adds `seq` when it sends it). */
  body: string;
}

export interface PutResult {
  seq: number;
  /** Oldest entries dropped to make room (0 unless the outbox was full). */
  dropped: number;
}

export interface Outbox {
  readonly maxQueued: number;
  /** Queue a message; durable (for a disk outbox) when it returns. */
  put(topic: string, body: string): PutResult;
  /** Up to `limit` entries with seq > `afterSeq` (default: from the oldest), oldest first. */
  peek(limit: number, afterSeq?: number): OutboxEntry[];
  /** Remove an acknowledged entry; false when it is not there (already deleted or dropped). */
  del(seq: number): boolean;
  /** Entries queued. */
  count(): number;
  /** The last seq handed out (0 when none ever). */
  lastSeq(): number;
  close(): void;
}

export interface OutboxOptions {
  /** Bound in messages (default 100 000). */
  maxQueued?: number;
}

export function checkMaxQueued(n: number | undefined): number {
  const v = n ?? DEFAULT_MAX_QUEUED;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`outbox maxQueued must be a positive integer, got ${String(n)}`);
  return v;
}

/** The outbox in memory: lost on restart (tests, or a gateway without a data dir). */
export class MemoryOutbox implements Outbox {
  readonly maxQueued: number;
  /** Insertion order is seq order (seqs only grow). */
  private readonly entries = new Map<number, OutboxEntry>();
  private last = 0;
  private closed = false;

  constructor(opts: OutboxOptions = {}) {
    this.maxQueued = checkMaxQueued(opts.maxQueued);
  }

  put(topic: string, body: string): PutResult {
    this.open();
    let dropped = 0;
    for (const seq of this.entries.keys()) {
      if (this.entries.size < this.maxQueued) break;
      this.entries.delete(seq);
      dropped++;
    }
    const seq = ++this.last;
    this.entries.set(seq, { seq, topic, body });
    return { seq, dropped };
  }

  peek(limit: number, afterSeq = 0): OutboxEntry[] {
    this.open();
    const out: OutboxEntry[] = [];
    if (limit <= 0) return out;
    for (const e of this.entries.values()) {
      if (e.seq <= afterSeq) continue;
      out.push({ ...e });
      if (out.length >= limit) break;
    }
    return out;
  }

  del(seq: number): boolean {
    this.open();
    return this.entries.delete(seq);
  }

  count(): number {
    this.open();
    return this.entries.size;
  }

  lastSeq(): number {
    this.open();
    return this.last;
  }

  close(): void {
    this.closed = true;
  }

  private open(): void {
    if (this.closed) throw new OutboxClosedError();
  }
}
