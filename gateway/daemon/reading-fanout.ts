/**
 * Where a device's fresh readings go (docs/architecture.md, "One direction"
 * and "The reading path"): the daemon metrics, the metering service (counter
 * raws straight from the poller's columns into the core's input), the alarm
 * watch (only the points an alarm watches), and the event bus (stream, MQTT,
 * Node-RED: a ReadingMessage is built only for a device someone listens to,
 * with the points asked for). Device views read the frame when the API asks.
 * Nothing here decides anything; it only hands on.
 *
 * A Modbus poll arrives as the poller's DeviceFrame (`onFrame`): nothing is
 * allocated per reading unless a listener, an alarm or the ledger's raw
 * reading history asks for values. Pushed devices (DSMR P1) arrive as
 * DeviceReadings objects (`onReadings`).
 */
import type { EventBus, ReadingMessage } from '../events';
import type { LedgerEvent } from '../ledger/store';
import type { MeteringService, MeterInput, ReadingValue } from '../meter/metering-service';
import type { SlotMap } from '../meter/slot-map';
import type { AlarmWatch } from '../policy/alarm-watch';
import type { DeviceFrame } from '../poll/device-frame';
import type { DeviceReadings } from '../poll/device-poller';
import type { DaemonMetrics } from './daemon-metrics';
import type { DeviceViews } from './device-views';

export interface ReadingFanoutDeps {
  views: DeviceViews;
  metrics: DaemonMetrics;
  metering: MeteringService;
  alarms: AlarmWatch;
  events: EventBus;
  slots: SlotMap;
}

/** Per device, worked out on its first frame: core slot of each point (-1: not metered). */
interface Route {
  frame: DeviceFrame;
  slotOf: Int32Array;
  /** Counter points (indices) with a slot. */
  counters: Uint16Array;
  alarmVersion: number;
  /** Indices of gauge points some alarm watches. */
  alarmPoints: number[];
}

export class ReadingFanout {
  private readonly routes = new Map<string, Route>();

  constructor(private readonly d: ReadingFanoutDeps) {}

  /** One Modbus poll cycle that reached the device. */
  onFrame(f: DeviceFrame): void {
    const d = this.d;
    const r = this.route(f);
    const read = f.freshCount;
    d.metrics.onPoll(f.device, read, f.points.length - read, f.cycleMs);
    const interest = d.events.readingInterest(f.device);
    if (read === 0) {
      if (interest !== null) d.events.emit('reading', this.message(f, interest));
      return;
    }
    const ts = f.tsMs;
    d.metering.readingsArrived(read, d.metering.keepsReadingValues ? this.values(f, ts) : undefined);
    const { counters, slotOf } = r;
    for (let k = 0; k < counters.length; k++) {
      const i = counters[k]!;
      if (f.fresh[i] !== 1) continue;
      if (f.rawBad[i] === 1) d.metering.meterCounterBig(slotOf[i]!, f.decodedAt(i)!.counterRaw!, ts);
      else d.metering.meterCounter(slotOf[i]!, f.rawLo[i]!, f.rawHi[i]!, ts);
    }
    if (r.alarmVersion !== d.alarms.version) this.routeAlarms(r);
    if (r.alarmPoints.length > 0) {
      let events: LedgerEvent[] | null = null;
      for (const i of r.alarmPoints) {
        if (f.fresh[i] !== 1) continue;
        const out = d.alarms.observe(f.device, f.points[i]!.name, f.value(i)!, ts);
        if (out.length > 0) (events ??= []).push(...out);
      }
      if (events) d.metering.addEvents(events);
    }
    if (interest !== null) d.events.emit('reading', this.message(f, interest));
  }

  /** A pushed device's readings (P1 telegrams): the same path, from objects. */
  onReadings(r: DeviceReadings): void {
    const d = this.d;
    d.metrics.onPoll(r.device, r.values.length, r.failed.length, r.cycleMs);
    const inputs: MeterInput[] = [];
    const events: LedgerEvent[] = [];
    const points: ReadingMessage['points'] = {};
    for (const { point, decoded } of r.values) {
      const value = decoded.value;
      d.views.setValue(r.device, point.name, value, r.tsMs);
      points[point.name] = { value, unit: point.unit };
      inputs.push({
        device: r.device,
        point: point.name,
        tsMs: r.tsMs,
        value: String(value),
        counterRaw: point.kind === 'counter' ? decoded.counterRaw : undefined,
      });
      if (point.kind === 'gauge') events.push(...d.alarms.observe(r.device, point.name, value, r.tsMs));
    }
    if (inputs.length > 0) d.metering.ingest(inputs);
    if (events.length > 0) d.metering.addEvents(events);
    if (d.events.readingInterest(r.device) !== null)
      d.events.emit('reading', { device: r.device, at: new Date(r.tsMs).toISOString(), points });
  }

  private route(f: DeviceFrame): Route {
    let r = this.routes.get(f.device);
    if (r && r.frame === f) return r;
    const slotOf = new Int32Array(f.points.length).fill(-1);
    const counters: number[] = [];
    f.points.forEach((p, i) => {
      if (p.kind !== 'counter') return;
      const info = this.d.slots.get(f.device, p.name);
      if (!info) return;
      slotOf[i] = info.slot;
      counters.push(i);
    });
    r = { frame: f, slotOf, counters: Uint16Array.from(counters), alarmVersion: -1, alarmPoints: [] };
    this.routes.set(f.device, r);
    this.d.views.attach(f.device, f);
    return r;
  }

  private routeAlarms(r: Route): void {
    const f = r.frame;
    r.alarmVersion = this.d.alarms.version;
    r.alarmPoints = [];
    for (const name of this.d.alarms.pointsOf(f.device)) {
      const i = f.indexOf.get(name);
      if (i !== undefined && f.points[i]!.kind === 'gauge') r.alarmPoints.push(i);
    }
  }

  /** The fresh points of the last cycle as a ReadingMessage (only those asked for). */
  private message(f: DeviceFrame, interest: 'all' | ReadonlySet<string>): ReadingMessage {
    const points: ReadingMessage['points'] = {};
    for (const i of f.readIndices()) {
      const p = f.points[i]!;
      if (interest !== 'all' && !interest.has(p.name)) continue;
      points[p.name] = { value: f.value(i), unit: p.unit };
    }
    return { device: f.device, at: new Date(f.tsMs).toISOString(), points };
  }

  /** Every fresh point's value for the reading history (only when `ledger.history` is on). */
  private values(f: DeviceFrame, tsMs: number): ReadingValue[] {
    const out: ReadingValue[] = [];
    for (const i of f.readIndices()) out.push({ device: f.device, point: f.points[i]!.name, tsMs, value: String(f.value(i)) });
    return out;
  }
}
