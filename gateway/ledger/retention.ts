/**
 * Retention (DESIGN.md §6): raw readings are bounded, nothing else is.
 *
 * What is pruned: the `batch_readings` rows (raw readings) of whole batches — every batch up to
 * the newest one committed (batch atMs) before the cutoff. What stays
 * forever: the batch rows with their canonical bodies (deltas, accruals,
 * events, state, vouchers, policy — the readings appear there only as
 * count + digest), totals, hourly buckets, channels, vouchers, events and
 * state. So totals and window queries are unchanged by pruning, and
 * `verifyLedger` still checks the whole chain; it checks the digest of every
 * batch whose readings are still present, and knows from the
 * `readings_pruned_through_seq` mark which batches have none on purpose.
 *
 * Pruning is chained: each step deletes the readings of up to
 * PRUNE_CHUNK_BATCHES batches and commits, in the same transaction, a batch
 * whose body records the new mark (`pruned.throughSeq`) with a
 * 'readings-pruned' event. Verify holds the `meta` mark to the chain's, so
 * readings deleted behind the ledger's back are reported. A kill -9 between
 * steps leaves a consistent mark and the next run continues.
 */
import type Database from 'better-sqlite3';
import { META_READINGS_PRUNED_THROUGH } from './schema';

/** Batches per pruning transaction. */
export const PRUNE_CHUNK_BATCHES = 10_000;

export function prunedThroughSeq(db: Database.Database): number {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(META_READINGS_PRUNED_THROUGH) as { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

export interface PruneStep {
  /** Exclusive. */
  fromSeq: number;
  /** Inclusive: the new retention mark. */
  throughSeq: number;
}

/** The chunks (one transaction each) that prune every batch committed before `olderThanMs`. */
export function planPrune(db: Database.Database, olderThanMs: number, chunk: number = PRUNE_CHUNK_BATCHES): PruneStep[] {
  // The newest batch before the cutoff, found on the at_ms index in O(log n).
  const target = db.prepare('SELECT seq FROM batches WHERE at_ms < ? ORDER BY at_ms DESC, seq DESC LIMIT 1').get(olderThanMs) as
    | { seq: number }
    | undefined;
  if (!target) return [];
  const steps: PruneStep[] = [];
  for (let from = prunedThroughSeq(db); from < target.seq; from += chunk) {
    steps.push({ fromSeq: from, throughSeq: Math.min(from + chunk, target.seq) });
  }
  return steps;
}

/** Inside a write transaction: delete the readings of one step and move the mark. Returns the readings deleted. */
export function dropReadings(db: Database.Database, step: PruneStep): number {
  const n = db
    .prepare('SELECT coalesce(sum(n_readings), 0) AS n FROM batch_readings WHERE batch_seq > ? AND batch_seq <= ?')
    .get(step.fromSeq, step.throughSeq) as { n: number };
  db.prepare('DELETE FROM batch_readings WHERE batch_seq > ? AND batch_seq <= ?').run(step.fromSeq, step.throughSeq);
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
    META_READINGS_PRUNED_THROUGH,
    String(step.throughSeq),
  );
  return n.n;
}

export interface RetentionSchedule {
  stop(): void;
}

/**
 * Prune readings older than `retainMs` now and then every `everyMs` (default
 * one hour). The timer is unref'd; `onError` gets any failure (the next run retries).
 */
export function scheduleRetention(
  ledger: { pruneReadings(olderThanMs: number): number },
  opts: { retainMs: number; everyMs?: number; now?: () => number; onError?: (err: unknown) => void },
): RetentionSchedule {
  const now = opts.now ?? Date.now;
  const run = (): void => {
    try {
      ledger.pruneReadings(now() - opts.retainMs);
    } catch (err) {
      opts.onError?.(err);
    }
  };
  run();
  const timer = setInterval(run, opts.everyMs ?? 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
