/**
 * Where a device's fresh readings go (docs/architecture.md, "One direction"):
 * the device views of the API, the daemon metrics, the metering service
 * (counters and values into the core), the alarm watch (gauges), and the event
 * bus (stream, MQTT, Node-RED). Nothing here decides anything; it only hands on.
 */
import type { EventBus } from '../events';
import type { LedgerEvent } from '../ledger/store';
import type { MeteringService, MeterInput } from '../meter/metering-service';
import type { AlarmWatch } from '../policy/alarm-watch';
import type { DeviceReadings } from '../poll/device-poller';
import type { DaemonMetrics } from './daemon-metrics';
import type { DeviceViews } from './device-views';

export interface ReadingFanoutDeps {
  views: DeviceViews;
  metrics: DaemonMetrics;
  metering: MeteringService;
  alarms: AlarmWatch;
  events: EventBus;
}

export function fanOutReadings(d: ReadingFanoutDeps, r: DeviceReadings): void {
  d.metrics.onReadings(r);
  const inputs: MeterInput[] = [];
  const events: LedgerEvent[] = [];
  const points: Record<string, { value: string | boolean | null; unit: string }> = {};
  for (const { point, decoded } of r.values) {
    const value = decoded.value;
    d.views.setValue(r.device, point.name, value, r.tsMs);
    points[point.name] = { value, unit: point.unit };
    inputs.push({ device: r.device, point: point.name, tsMs: r.tsMs, value: String(value), counterRaw: point.kind === 'counter' ? decoded.counterRaw : undefined });
    if (point.kind === 'gauge') events.push(...d.alarms.observe(r.device, point.name, value, r.tsMs));
  }
  if (inputs.length > 0) d.metering.ingest(inputs);
  if (events.length > 0) d.metering.addEvents(events);
  d.events.emit('reading', { device: r.device, at: new Date(r.tsMs).toISOString(), points });
}
