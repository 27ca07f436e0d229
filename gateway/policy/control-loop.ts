/**
 * `m2m-control` at run time (docs/policies.md): a closed loop in the gateway,
 * an extension with start(bus)/stop(). On every reading of a controlled
 * device it maps the input point to the setpoint (control-map.ts) and, when
 * the device's setpoint differs from it, writes it through the point writer,
 * which queues the write on the bus and confirms it by reading it back.
 *
 * - At most one write per (node, device) in flight; at least `minIntervalMs`
 *   between two writes (a change due sooner waits for a later reading).
 * - Each confirmed write is a `control` event (input, from, to, confirmed).
 * - A failed or unconfirmed write is retried with backoff (base/backoff.ts,
 *   1 s doubling to 30 s) with the newest setpoint, and raised as a
 *   `control-failed` event on the 1st, 2nd, 4th, 8th … failed attempt, so a
 *   dead device cannot flood the ledger; it is never silently dropped.
 * - A setpoint changed on the device by someone else is written back: the
 *   gateway owns a controlled setpoint.
 */
import { Backoff } from '../base/backoff';
import type { Logger } from '../base/log';
import type { EventBus, PointValue, ReadingMessage } from '../events';
import type { LedgerEvent } from '../ledger/store';
import type { CompiledControl } from './compile';
import { ControlMap, canonical, dec, type MapState } from './control-map';

export interface ControlLoopDeps {
  write(device: string, point: string, value: string): Promise<{ value: PointValue }>;
  record(events: LedgerEvent[]): void;
  log: Logger;
  now?: () => number;
  /** Retry backoff (default 1 s doubling to 30 s). */
  retry?: { baseMs?: number; capMs?: number };
}

interface Loop {
  rule: CompiledControl;
  map: ControlMap;
  device: string;
  st: MapState;
  /** The setpoint as last read or confirmed. */
  actual?: string;
  lastInput?: string;
  lastWriteAt: number;
  writing: boolean;
  retryTimer: NodeJS.Timeout | null;
  backoff: Backoff;
  failures: number;
}

export class ControlLoop {
  private loops = new Map<string, Loop[]>(); // device -> loops
  private stopped = false;
  private readonly now: () => number;
  private readonly onReading = (m: ReadingMessage) => this.observe(m);

  constructor(private readonly d: ControlLoopDeps) {
    this.now = d.now ?? Date.now;
  }

  /** The controls of the active policy; loops of unchanged (node, device) pairs keep their state. */
  setControls(controls: readonly CompiledControl[]): void {
    const old = new Map<string, Loop>();
    for (const list of this.loops.values()) for (const l of list) old.set(`${l.rule.nodeId}\0${l.device}`, l);
    const next = new Map<string, Loop[]>();
    for (const rule of controls) {
      for (const device of rule.matched) {
        const prev = old.get(`${rule.nodeId}\0${device}`);
        old.delete(`${rule.nodeId}\0${device}`);
        const same = prev && JSON.stringify(prev.rule) === JSON.stringify(rule);
        const loop: Loop = same
          ? prev
          : {
              rule,
              map: new ControlMap(rule),
              device,
              st: {},
              actual: prev?.actual,
              lastWriteAt: prev?.lastWriteAt ?? 0,
              writing: false, // a write still in flight belongs to the previous loop object
              retryTimer: null,
              backoff: new Backoff({
                baseMs: this.d.retry?.baseMs ?? 1000,
                capMs: this.d.retry?.capMs ?? 30_000,
                minMs: this.d.retry?.baseMs ?? 1000,
              }),
              failures: 0,
            };
        if (prev && !same && prev.retryTimer) clearTimeout(prev.retryTimer);
        next.set(device, [...(next.get(device) ?? []), loop]);
      }
    }
    for (const l of old.values()) if (l.retryTimer) clearTimeout(l.retryTimer);
    this.loops = next;
  }

  private offReadings: (() => void) | null = null;

  start(bus: EventBus): this {
    // only the devices with a loop, only their input and output points (docs/architecture.md §4)
    this.offReadings = bus.onReadings(this.onReading, {
      devices: (device) => this.loops.has(device),
      points: (device) => (this.loops.get(device) ?? []).flatMap((l) => [l.rule.input, l.rule.output]),
    });
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.offReadings?.();
    this.offReadings = null;
    for (const list of this.loops.values()) for (const l of list) if (l.retryTimer) clearTimeout(l.retryTimer);
  }

  /** Feed one device's fresh values (the bus does this after start). */
  observe(m: ReadingMessage): void {
    const loops = this.loops.get(m.device);
    if (!loops || this.stopped) return;
    for (const l of loops) {
      const out = m.points[l.rule.output]?.value;
      if (typeof out === 'string' && !l.writing) l.actual = safeCanonical(out) ?? l.actual;
      const inp = m.points[l.rule.input]?.value;
      if (typeof inp !== 'string') continue;
      let x: bigint;
      try {
        x = dec(inp);
      } catch {
        continue; // not a number (a string point): nothing to map
      }
      l.lastInput = inp;
      l.map.next(x, l.st);
      this.maybeWrite(l);
    }
  }

  private maybeWrite(l: Loop): void {
    const target = l.st.target;
    if (target === undefined || l.writing || l.retryTimer || target === l.actual) return;
    if (l.lastWriteAt > 0 && this.now() - l.lastWriteAt < l.rule.minIntervalMs) return;
    this.write(l, target);
  }

  private write(l: Loop, target: string): void {
    const { device, rule } = l;
    const from = l.actual ?? null;
    const input = l.lastInput ?? null;
    l.writing = true;
    this.d.write(device, rule.output, target).then(
      (r) => {
        l.writing = false;
        l.lastWriteAt = this.now();
        l.actual = typeof r.value === 'string' ? (safeCanonical(r.value) ?? r.value) : String(r.value);
        const attempts = l.failures + 1;
        l.failures = 0;
        l.backoff.reset();
        this.d.record([
          {
            kind: 'control',
            device,
            point: rule.output,
            tsMs: this.now(),
            detail: {
              policy: rule.nodeId,
              name: rule.name || null,
              input: rule.input,
              inputValue: input,
              from,
              to: target,
              confirmed: String(r.value),
              attempts,
            },
          },
        ]);
        if (!this.stopped) this.maybeWrite(l); // the input may have moved on meanwhile
      },
      (err: Error) => {
        l.writing = false;
        l.lastWriteAt = this.now();
        l.failures += 1;
        const retryInMs = l.backoff.next();
        if (isPowerOfTwo(l.failures)) {
          this.d.log.warn(
            { device, point: rule.output, value: target, attempt: l.failures, retryInMs, err: err.message },
            'control write failed; retrying',
          );
          this.d.record([
            {
              kind: 'control-failed',
              device,
              point: rule.output,
              tsMs: this.now(),
              detail: {
                policy: rule.nodeId,
                name: rule.name || null,
                input: rule.input,
                inputValue: input,
                from,
                to: target,
                attempt: l.failures,
                retryInMs,
                error: err.message.slice(0, 500),
              },
            },
          ]);
        }
        if (this.stopped) return;
        l.retryTimer = setTimeout(() => {
          l.retryTimer = null;
          const t = l.st.target;
          if (this.stopped || t === undefined || l.writing) return;
          if (t === l.actual) {
            l.failures = 0; // the device already holds it (the input came back)
            l.backoff.reset();
          } else this.write(l, t);
        }, retryInMs);
        l.retryTimer.unref();
      },
    );
  }
}

function safeCanonical(v: string): string | undefined {
  try {
    return canonical(v);
  } catch {
    return undefined;
  }
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
