/**
 * DevicePoller: polls one Modbus device on its link, through its bus queue,
 * and reports readings and health (docs/architecture.md §9).
 *
 * Cycle: the device's points are planned into read requests (planner.ts);
 * each request is one bus-queue transaction, so other devices on the bus get
 * their turn between them. Per request:
 *  - data: every point in it is decoded; a decode error fails that point only;
 *  - exception 02/03 on a merged request: split in halves, down to single
 *    points, in the same cycle, and learn — the area is replanned with
 *    maxGap 0 (if the request had gap-filled registers) or half the count;
 *  - another exception (01, 04, 06 …): the request's points fail, the cycle goes on;
 *  - timeout, exception 10/11, garbage: the device is not answering — the rest
 *    of the cycle is skipped so a dead device does not hold the bus;
 *  - link down: the cycle ends and the device is `offline`.
 * Values are decoded straight into the device's DeviceFrame (device-frame.ts:
 * typed columns, no object per reading). After each cycle that reached the
 * device the `sink` option is called with the frame (the daemon's reading
 * path); 'readings' { device, tsMs (end of cycle), values: [{point, decoded}],
 * failed: [names] } is emitted too, built from the frame only while someone
 * listens (tests, tools).
 *
 * Schedule: cycles are due on a grid, `anchorMs + phaseMs + k × pollMs`
 * (anchorMs: start() unless given), so the first cycle starts `phaseMs` after
 * the anchor (at once, if the poller starts later than that). The field bus spreads the devices of a poll period over a few
 * phase slots and gives them one anchor: reads, CPU and commits do not come in
 * one burst per period, and the devices of one slot are due at the same
 * instant, so they poll in one timer wake-up (a wake-up costs more than the
 * poll on a small gateway). A device whose link comes back polls `phaseMs`
 * later; one that comes back from a backoff, a shed poll or skipped polls
 * rejoins its grid with its next healthy cycle. A cycle that takes longer than pollMs
 * makes the next one late: it starts at once, never queued behind another
 * (one poll per device outstanding); whole periods it ran past are skipped
 * polls. `lateCount`/`skippedCount` count them for /metrics, and a device
 * that stays late (LATE_AFTER = 10 late cycles in a row) is `degraded` with
 * reason 'late …' until 10 cycles in a row start on time.
 *
 * Health, emitted as 'state' { device, state, reason } and logged once per change:
 *  - ok:          every point read, on time;
 *  - degraded:    some points failed, or the whole cycle failed fewer than 3 times in a row,
 *                 or the device cannot be polled at its pollMs ('late');
 *  - quarantined: 3 consecutive cycles without a single value; polled again at
 *                 the backoff interval until it answers;
 *  - offline:     its link is down; the LinkSupervisor reconnects, the poller
 *                 waits and resumes by itself.
 * A healthy device is polled at a fixed rate (a cycle starts every pollMs, or
 * right after the previous one if that took longer). A failing device waits
 * backoff(attempt) — exponential, full jitter, never less than pollMs, capped
 * (30 s default) — after each failed cycle.
 *
 * write(point, value): encode (devices/encode.ts), then write and read back as
 * ONE write-priority transaction (ahead of pending reads, nothing in between);
 * resolves with the confirmed value, or fails with GW_ERR_WRITE_READBACK.
 */
import { EventEmitter } from 'node:events';
import { decodePoint, type DecodedValue } from '../devices/decode';
import { DeviceFrame } from './device-frame';
import { encodePoint, type WriteValue } from '../devices/encode';
import { pointWidth, type ResolvedPoint } from '../devices/point';
import { LinkDownError, ModbusExceptionError, isModbusException } from '../links/errors';
import type { Area, LinkState, ModbusLink } from '../links/link';
import type { Logger } from '../base/log';
import { Backoff, DEFAULT_BACKOFF_CAP_MS } from '../base/backoff';
import type { BusQueue } from './bus-queue';
import { systemClock, type Clock } from '../base/clock';
import { PointNotFoundError, PointNotWritableError, PollerStoppedError, QueueFullError, WriteReadbackError } from './errors';
import { LinkSupervisor } from './link-supervisor';
import { DEFAULT_PLAN_LIMITS, isBitArea, planReads, largestGap, splitRequest, type PlanLimits, type ReadRequest } from './planner';

export type DeviceState = 'ok' | 'degraded' | 'quarantined' | 'offline';

/** Consecutive failed cycles before a device is quarantined. */
export const QUARANTINE_AFTER = 3;
/**
 * Consecutive late cycles before a device is `degraded` ('late'), and on-time
 * cycles before it is `ok` again: a device that cannot keep its pollMs for a
 * while, not one that waited once behind a timing-out neighbour on its bus.
 */
export const LATE_AFTER = 10;

export interface PolledDevice {
  id: string;
  unitId: number;
  pollMs: number;
  points: ResolvedPoint[];
  /** Per-device read limits (defaults: 125 registers, 2000 bits, gap 8). */
  limits?: Partial<PlanLimits>;
  /** The device's phase in its poll period, ms (default 0): the first cycle is due phaseMs after the anchor. */
  phaseMs?: number;
  /** Clock time the schedule counts from (default: start()); pollers given the same one share due times. */
  anchorMs?: number;
}

export interface PointReading {
  point: ResolvedPoint;
  decoded: DecodedValue;
}

export interface DeviceReadings {
  device: string;
  tsMs: number;
  /** How long the poll cycle took on the bus, ms (queue wait included). */
  cycleMs?: number;
  values: PointReading[];
  failed: string[];
}

export interface DeviceStateChange {
  device: string;
  state: DeviceState;
  reason: string;
}

export interface DevicePollerOptions {
  device: PolledDevice;
  link: ModbusLink;
  queue: BusQueue;
  logger: Logger;
  clock?: Clock;
  /** The link's supervisor, shared by every poller of the link (the FieldBus hands it out). */
  supervisor: LinkSupervisor;
  /** Largest retry interval of a failing device, ms (default 30 000). */
  backoffCapMs?: number;
  random?: () => number;
  /** Called with the device's frame after every cycle that reached it (the reading path; never throws back). */
  sink?: (frame: DeviceFrame) => void;
}

interface CycleOutcome {
  /** Why the device did not answer (timeout, gateway exception …), if it did not. */
  deviceError: Error | null;
  /** First point-level error, for the reason text. */
  pointError: Error | null;
  linkDown: LinkDownError | null;
  requests: number;
}

const AREAS: Area[] = ['holding', 'input', 'coil', 'discrete'];

export class DevicePoller extends EventEmitter {
  readonly device: PolledDevice;
  private readonly link: ModbusLink;
  private readonly queue: BusQueue;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly supervisor: LinkSupervisor;
  private readonly backoff: Backoff;
  private readonly byName = new Map<string, ResolvedPoint>();
  private readonly limits = new Map<Area, PlanLimits>();
  private planCache: ReadRequest[] | null = null;
  private stateValue: DeviceState | null = null;
  private failures = 0;
  private abort: AbortController | null = null;
  private loopDone: Promise<void> | null = null;
  private stopped = false;
  private readonly sink: ((frame: DeviceFrame) => void) | null;
  /** Points, values and counters of the last cycles as columns. */
  readonly frame: DeviceFrame;
  /** Cycles that started after their time (the previous one took longer than pollMs). */
  lateCount = 0;
  /** Poll periods a late device let pass without a poll (shed, never queued). */
  skippedCount = 0;
  private lateStreak = 0;
  private onTimeStreak = 0;
  private late: string | null = null;
  private wake: (() => void) | null = null;
  /** Origin of the due-time grid: anchor + phase (set when the loop starts). */
  private gridBase = 0;
  private readonly outcome: CycleOutcome = { deviceError: null, pointError: null, linkDown: null, requests: 0 };
  private readonly onLinkState = (s: LinkState) => {
    // 'connecting' is not news: a reconnect attempt follows 'down', and the first connect is no outage
    if (s === 'down' || s === 'closed') this.setState('offline', `link ${this.link.id} is ${s}`);
  };

  constructor(opts: DevicePollerOptions) {
    super();
    this.device = opts.device;
    this.link = opts.link;
    this.queue = opts.queue;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger.child({ device: opts.device.id });
    this.supervisor = opts.supervisor;
    const pollMs = Math.max(1, opts.device.pollMs);
    this.backoff = new Backoff({
      baseMs: pollMs,
      minMs: pollMs,
      capMs: Math.max(pollMs, opts.backoffCapMs ?? DEFAULT_BACKOFF_CAP_MS),
      random: opts.random,
    });
    for (const p of opts.device.points) this.byName.set(p.name, p);
    this.frame = new DeviceFrame(opts.device.id, opts.device.points);
    this.sink = opts.sink ?? null;
    for (const a of AREAS) this.limits.set(a, { ...DEFAULT_PLAN_LIMITS, ...opts.device.limits });
  }

  /** Current health; null before the first cycle. */
  get state(): DeviceState | null {
    return this.stateValue;
  }

  /** The read requests the next cycle makes (after any learning). */
  get plan(): readonly ReadRequest[] {
    if (!this.planCache) {
      this.planCache = AREAS.flatMap((a) =>
        planReads(
          this.device.points.filter((p) => p.area === a),
          this.limits.get(a),
        ),
      );
    }
    return this.planCache;
  }

  start(): void {
    if (this.loopDone || this.stopped) return;
    this.abort = new AbortController();
    this.supervisor.acquire();
    this.link.on('state', this.onLinkState);
    this.loopDone = this.loop(this.abort.signal);
  }

  /** Stop polling; resolves after the transaction in flight (if any) ended. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    this.link.removeListener('state', this.onLinkState);
    await this.loopDone;
    if (this.loopDone) this.supervisor.release();
  }

  /** Write a point and confirm it by reading it back. */
  async write(pointName: string, value: WriteValue): Promise<{ value: string | boolean }> {
    const id = this.device.id;
    if (this.stopped) throw new PollerStoppedError(id);
    const point = this.byName.get(pointName);
    if (!point) throw new PointNotFoundError(id, pointName);
    if (!point.writable) throw new PointNotWritableError(id, pointName, 'not marked writable');
    if (point.area !== 'holding' && point.area !== 'coil') {
      throw new PointNotWritableError(id, pointName, `${point.area} is read-only in Modbus`);
    }
    const encoded = encodePoint(point, value);
    const expected = decodePoint(point, typeof encoded === 'boolean' ? [encoded] : encoded).value;
    const unit = this.device.unitId;
    const data = await this.queue.run(
      async () => {
        if (typeof encoded === 'boolean') {
          await this.link.writeCoil(unit, point.address, encoded);
          return this.link.readBits(unit, 'coil', point.address, 1);
        }
        await this.link.writeRegisters(unit, point.address, Array.from(encoded));
        return this.link.readRegisters(unit, 'holding', point.address, pointWidth(point));
      },
      { priority: 'write' },
    );
    const actual = decodePoint(point, data).value;
    if (actual !== expected) throw new WriteReadbackError(id, pointName, expected, actual);
    this.logger.info({ point: pointName, value: actual }, `wrote ${pointName}`);
    return { value: actual };
  }

  // -- the poll loop --

  private async loop(signal: AbortSignal): Promise<void> {
    const phase = Math.max(0, this.device.phaseMs ?? 0);
    const startMs = this.clock.now();
    const base = (this.device.anchorMs ?? startMs) + phase;
    this.gridBase = base;
    // the first cycle: at base, or at once when started past it
    let dueMs = startMs < base ? base : this.gridPassed(startMs);
    if (startMs < base && !(await this.pause(base - startMs))) return;
    while (!signal.aborted) {
      if (!this.supervisor.isUp) {
        if (this.link.state !== 'connecting') this.setState('offline', `link ${this.link.id} is ${this.link.state}`);
        if (!(await this.supervisor.whenUp(signal))) {
          // supervision ended without the link: wait a poll period and look again
          if (!(await this.pause(this.device.pollMs))) break;
          continue;
        }
        this.failures = 0; // a device coming back on a new connection starts fresh
        this.backoff.reset();
        // back in the device's phase, so a reconnected bus does not poll all its devices at once
        // (its next healthy cycle rejoins the grid)
        if (phase > 0 && !(await this.pause(phase))) break;
        dueMs = this.clock.now();
      }
      const startedMs = this.clock.now();
      // whole periods were skipped: the schedule goes on from the grid time just passed
      if (this.trackLateness(startedMs - dueMs)) dueMs = this.gridPassed(startedMs);
      let outcome: CycleOutcome;
      try {
        outcome = await this.cycle(signal);
      } catch (e) {
        // a bug must never kill the loop
        this.logger.error({ err: e }, 'poll cycle crashed');
        this.frame.beginCycle();
        outcome = this.outcome;
        outcome.deviceError = e as Error;
        outcome.requests = 1;
      }
      if (signal.aborted) break;
      const tsMs = this.clock.now();
      const f = this.frame;
      const reached = outcome.requests > 0 && !(outcome.linkDown && f.freshCount === 0);
      if (reached || this.device.points.length === 0) {
        f.endCycle(tsMs, tsMs - startedMs);
        if (this.sink) {
          try {
            this.sink(f);
          } catch (e) {
            this.logger.error({ err: e }, 'the reading sink threw; ignored');
          }
        }
        if (this.listenerCount('readings') > 0) this.emitSafe('readings', this.readingsOf(f));
      }
      const next = this.judge(outcome, dueMs);
      const now = this.clock.now();
      if (next === null) {
        dueMs = now; // link down: the loop waits for the supervisor
        continue;
      }
      dueMs = next;
      if (next > now) {
        if (!(await this.pause(next - now))) break;
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve)); // late: go on, but let I/O in first
      }
    }
  }

  /** The first due time at or after `t` on this device's grid. */
  private gridAt(t: number): number {
    const base = this.gridBase;
    const pollMs = this.device.pollMs;
    return t <= base ? base : base + Math.ceil((t - base) / pollMs) * pollMs;
  }

  /** The last due time at or before `t` (t at or after the grid's origin). */
  private gridPassed(t: number): number {
    return this.gridAt(t + 1) - this.device.pollMs;
  }

  /** Wait `ms` (false when the poller stopped meanwhile); one timer, no abort listener per cycle. */
  private pause(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const handle = this.clock.setTimeout(
        () => {
          this.wake = null;
          resolve(true);
        },
        Math.max(0, ms),
      );
      this.wake = () => {
        this.clock.clearTimeout(handle);
        this.wake = null;
        resolve(false);
      };
    });
  }

  /** The last cycle as a DeviceReadings object (the 'readings' event; built only for listeners). */
  private readingsOf(f: DeviceFrame): DeviceReadings {
    const values: PointReading[] = [];
    for (const i of f.readIndices()) values.push({ point: f.points[i]!, decoded: f.decodedAt(i)! });
    return { device: this.device.id, tsMs: f.tsMs, cycleMs: f.cycleMs, values, failed: f.failedNames() };
  }

  /**
   * Set the state from a cycle's outcome; returns when the next cycle is due (null: link
   * down, wait for it): a healthy device keeps a fixed rate (next = this cycle's due time
   * + pollMs, so timer lag does not add up), a failing one waits its backoff after the
   * failed cycle.
   */
  private judge(o: CycleOutcome, dueMs: number): number | null {
    if (o.linkDown) {
      this.setState('offline', o.linkDown.message);
      return null;
    }
    const total = this.device.points.length;
    const read = this.frame.freshCount;
    const now = this.clock.now();
    if (total > 0 && read === 0) {
      const why = (o.deviceError ?? o.pointError)?.message ?? 'no point could be read';
      if (o.deviceError instanceof QueueFullError) {
        // shed by an overloaded bus: a skipped poll, not a failing device
        this.skippedCount += 1;
        this.setState('degraded', `late: ${why}`);
        return now + this.device.pollMs;
      }
      this.failures += 1;
      if (this.failures >= QUARANTINE_AFTER) {
        this.setState('quarantined', `${this.failures} consecutive failed polls: ${why}`);
      } else {
        this.setState('degraded', `poll failed (${this.failures}/${QUARANTINE_AFTER}): ${why}`);
      }
      return now + this.backoff.delayMs(this.failures);
    }
    this.failures = 0;
    this.backoff.reset();
    if (total > read) {
      const why = (o.deviceError ?? o.pointError)?.message;
      this.setState('degraded', `failing points: ${this.frame.failedNames().join(', ')}${why ? ` (${why})` : ''}`);
    } else if (this.late) {
      this.setState('degraded', this.late);
    } else {
      this.setState('ok', 'all points read');
    }
    // fixed rate on the grid; a cycle off it (after a backoff, a shed poll) rejoins it, at least half a period on
    return this.gridAt(dueMs + Math.ceil(this.device.pollMs / 2));
  }

  /**
   * A cycle starts `lateness` ms after it was due. Half a period or more is a late
   * cycle; whole periods are skipped polls (returns true: the schedule starts anew).
   * A device late LATE_AFTER cycles in a row is reported late until as many start on time.
   */
  private trackLateness(lateness: number): boolean {
    const pollMs = this.device.pollMs;
    if (lateness < Math.max(1, pollMs / 2)) {
      this.lateStreak = 0;
      if (this.late && ++this.onTimeStreak >= LATE_AFTER) this.late = null;
      return false;
    }
    const skipped = Math.floor(lateness / pollMs);
    this.lateCount += 1;
    this.skippedCount += skipped;
    this.onTimeStreak = 0;
    this.lateStreak += 1;
    // the reason is set once per late spell: one state change, not one per cycle
    if (!this.late && this.lateStreak >= LATE_AFTER) {
      this.late = `late: polls start ${Math.round(lateness)} ms after their time (pollMs ${pollMs}); the gateway or the bus cannot keep up`;
    }
    return skipped > 0;
  }

  private async cycle(signal: AbortSignal): Promise<CycleOutcome> {
    const out = this.outcome;
    out.deviceError = null;
    out.pointError = null;
    out.linkDown = null;
    out.requests = 0;
    this.frame.beginCycle();
    const plan = this.plan;
    for (let i = 0; i < plan.length; i++) {
      if (signal.aborted) return out;
      if ((await this.execute(plan[i]!, out)) === 'abort') break;
    }
    return out; // points of requests not made count as failed (DeviceFrame.endCycle)
  }

  /** Read one request (splitting on 02/03); 'abort' ends the cycle. */
  private async execute(req: ReadRequest, out: CycleOutcome): Promise<'next' | 'abort'> {
    out.requests += 1;
    const f = this.frame;
    let data: Uint16Array | boolean[];
    try {
      data = await this.queue.run(() => this.read(req));
    } catch (e) {
      if (e instanceof LinkDownError) {
        out.linkDown = e;
        for (const pp of req.points) f.fail(f.indexOf.get(pp.point.name)!);
        return 'abort';
      }
      if (isModbusException(e, 2, 3) && req.points.length > 1) {
        this.learnFrom(req, e);
        for (const half of splitRequest(req)) {
          if ((await this.execute(half, out)) === 'abort') {
            // points of the second half were not read
            for (const pp of req.points) f.fail(f.indexOf.get(pp.point.name)!);
            return 'abort';
          }
        }
        return 'next';
      }
      for (const pp of req.points) f.fail(f.indexOf.get(pp.point.name)!);
      if (e instanceof ModbusExceptionError && !isModbusException(e, 10, 11)) {
        out.pointError ??= e;
        return 'next';
      }
      // timeout, gateway exception 10/11, garbage, a full bus queue: the device is not answering
      out.deviceError ??= e as Error;
      return 'abort';
    }
    const err = f.take(req, data);
    if (err) out.pointError ??= err;
    return 'next';
  }

  private read(req: ReadRequest): Promise<Uint16Array | boolean[]> {
    const unit = this.device.unitId;
    return req.area === 'coil' || req.area === 'discrete'
      ? this.link.readBits(unit, req.area, req.address, req.count)
      : this.link.readRegisters(unit, req.area, req.address, req.count);
  }

  /** A merged read was refused: plan this area tighter from now on. */
  private learnFrom(req: ReadRequest, e: ModbusExceptionError): void {
    const cur = this.limits.get(req.area) as PlanLimits;
    const key = isBitArea(req.area) ? 'maxBits' : 'maxRegisters';
    const gap = largestGap(req);
    // a request the current limits would no longer plan (a half of an older, wider one) teaches nothing new
    if (gap > cur.maxGap || req.count > cur[key]) return;
    const next = { ...cur };
    if (gap > 0)
      next.maxGap = 0; // holes in the device's map are the usual cause
    else next[key] = Math.max(1, Math.floor(req.count / 2));
    if (next.maxGap === cur.maxGap && next[key] === cur[key]) return;
    this.limits.set(req.area, next);
    this.planCache = null;
    this.logger.info(
      { area: req.area, address: req.address, count: req.count, exceptionCode: e.exceptionCode, limits: next },
      `device ${this.device.id}: merged read refused; reading ${req.area} with ${key} ${next[key]}, maxGap ${next.maxGap}`,
    );
  }

  private setState(state: DeviceState, reason: string): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    const level = state === 'ok' ? 'info' : 'warn';
    this.logger[level]({ state, reason }, `device ${this.device.id} ${state}: ${reason}`);
    this.emitSafe('state', { device: this.device.id, state, reason } satisfies DeviceStateChange);
  }

  private emitSafe(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch (e) {
      this.logger.error({ err: e, event }, 'a listener threw; ignored');
    }
  }
}
