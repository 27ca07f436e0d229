/**
 * A MeteringCore that forwards to another and adds up the time spent in the
 * calls the hot path makes per batch (process, snapshot), so a bench can say
 * how much of the daemon's work is the core's. Two clock reads per call.
 */
import type {
  BatchResult,
  CoreEvent,
  CoreState,
  MeteringCore,
  PolicyTables,
  Reading,
  SlotConfig,
  SnapshotFilter,
} from '../gateway/core/types';

export class TimedCore implements MeteringCore {
  /** Nanoseconds inside process() and snapshot(). */
  ns = 0n;
  readings = 0;

  constructor(private readonly inner: MeteringCore) {}

  configureSlots(slots: SlotConfig[]): void {
    this.inner.configureSlots(slots);
  }

  setPolicy(tables: PolicyTables): void {
    this.inner.setPolicy(tables);
  }

  process(readings: Reading[]): BatchResult {
    const t = process.hrtime.bigint();
    const r = this.inner.process(readings);
    this.ns += process.hrtime.bigint() - t;
    this.readings += readings.length;
    return r;
  }

  settle(account: number, amountNano: bigint): CoreEvent[] {
    return this.inner.settle(account, amountNano);
  }

  snapshot(only?: SnapshotFilter): CoreState {
    const t = process.hrtime.bigint();
    const s = this.inner.snapshot(only);
    this.ns += process.hrtime.bigint() - t;
    return s;
  }

  restore(state: CoreState): void {
    this.inner.restore(state);
  }
}
