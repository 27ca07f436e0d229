/**
 * Everything that talks to the hardware: the Modbus links with their
 * supervisors and per-bus queues, one poller per Modbus device, and the DSMR
 * P1 links whose meters push telegrams. It owns the per-bus queues and the
 * link supervisors (no module-level registries). It turns all of it into two kinds of
 * callbacks — readings and device states — and answers point writes.
 */
import type { LoadedConfig } from '../config/load';
import { P1DeviceMapper } from './p1-device';
import { DsmrP1Link } from '../links/dsmr-p1';
import type { LinkState, ModbusLink } from '../links/link';
import { createModbusLink } from './link-factory';
import type { P1Telegram } from '../links/p1-telegram';
import type { Logger } from '../base/log';
import { BusQueues } from './bus-queue';
import { DevicePoller, type DeviceReadings, type DeviceStateChange } from './device-poller';
import type { DeviceFrame } from './device-frame';
import { LinkSupervisors } from './link-supervisor';

/** Upper bound of the link reconnect backoff. */
const RECONNECT_CAP_MS = 30_000;

export interface FieldBusHandlers {
  /** A Modbus poll cycle that reached its device, as the poller's columns (the reading path). */
  onFrame(f: DeviceFrame): void;
  /** Readings of a pushed device (DSMR P1). */
  onReadings(r: DeviceReadings): void;
  onDeviceState(s: DeviceStateChange): void;
  /** Current state of a device as the gateway shows it (P1 devices go 'ok' on their first telegram). */
  deviceState(id: string): string | undefined;
}

export class FieldBus {
  readonly modbusLinks = new Map<string, ModbusLink>();
  readonly p1Links = new Map<string, DsmrP1Link>();
  private readonly pollers = new Map<string, DevicePoller>();
  private readonly queues = new BusQueues();
  private readonly supervisors = new LinkSupervisors();

  constructor(
    private readonly config: LoadedConfig,
    private readonly log: Logger,
    private readonly h: FieldBusHandlers,
  ) {}

  start(): void {
    this.startPollers();
    this.startP1Links();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pollers.values()].map((p) => p.stop()));
    this.pollers.clear();
    await Promise.all([...this.p1Links.values()].map((l) => l.close().catch(() => undefined)));
  }

  /** Close the Modbus links (after the final commit: nothing more is read). */
  async closeLinks(): Promise<void> {
    this.queues.releaseAll();
    this.supervisors.clear();
    await Promise.all([...this.modbusLinks.values()].map((l) => l.close().catch(() => undefined)));
  }

  linkStates(): Array<{ id: string; state: LinkState }> {
    return this.config.links.map((l) => ({
      id: l.id,
      state: this.modbusLinks.get(l.id)?.state ?? this.p1Links.get(l.id)?.state ?? 'closed',
    }));
  }

  /** Late cycles and skipped polls of every polled device (for /metrics). */
  *pollLateness(): Iterable<{ device: string; late: number; skipped: number }> {
    for (const [device, p] of this.pollers) yield { device, late: p.lateCount, skipped: p.skippedCount };
  }

  /** The poller of a Modbus device (writes go through it: queued ahead of reads, read back). */
  poller(device: string): DevicePoller | undefined {
    return this.pollers.get(device);
  }

  private startPollers(): void {
    for (const lc of this.config.links) {
      // Links, pollers and link supervisors bind their own `link`/`device` to the logger.
      const link = createModbusLink(lc, this.log);
      if (!link) continue;
      // Every poller on the bus listens to its link's state: a busy RS-485 bus has many, legitimately.
      link.setMaxListeners(this.config.devices.filter((d) => d.link === lc.id).length + 10);
      this.modbusLinks.set(lc.id, link);
    }
    for (const [id, link] of this.modbusLinks) {
      // Reconnect attempts back off, but never beyond a few poll periods of the
      // link's fastest device: a rebooted device is back within a few polls.
      const fastest = Math.min(...this.config.devices.filter((d) => d.link === id).map((d) => d.pollMs), 10_000);
      this.supervisors.for(link, { logger: this.log, capMs: Math.min(RECONNECT_CAP_MS, Math.max(2_000, 3 * fastest)) });
    }
    const polled = this.config.devices.filter((d) => this.modbusLinks.has(d.link));
    const phases = pollPhases(polled);
    const anchorMs = Date.now(); // the pollers' clock (systemClock): one anchor, so a slot's devices share due times
    for (const d of polled) {
      const link = this.modbusLinks.get(d.link)!;
      const poller = new DevicePoller({
        supervisor: this.supervisors.for(link, { logger: this.log }),
        device: {
          id: d.id,
          unitId: d.unitId,
          pollMs: d.pollMs,
          points: d.points,
          limits: { maxRegisters: d.maxRegisters, maxBits: d.maxBits },
          phaseMs: phases.get(d.id) ?? 0,
          anchorMs,
        },
        link,
        queue: this.queues.for(link.busKey),
        logger: this.log,
        sink: (f) => this.h.onFrame(f),
      });
      poller.on('state', (s: DeviceStateChange) => this.h.onDeviceState(s));
      this.pollers.set(d.id, poller);
      poller.start();
    }
  }

  /** DSMR P1 meters push telegrams; each one becomes a set of readings of its device. */
  private startP1Links(): void {
    for (const lc of this.config.links) {
      if (lc.type !== 'dsmr-p1') continue;
      const devices = this.config.devices.filter((d) => d.link === lc.id);
      const mappers = devices.map((d) => ({ id: d.id, mapper: new P1DeviceMapper(d.points) }));
      const link = new DsmrP1Link({
        id: lc.id,
        path: lc.path,
        baudRate: lc.baudRate,
        dataBits: lc.dataBits,
        parity: lc.parity,
        stopBits: lc.stopBits,
        logger: this.log,
      });
      link.on('telegram', (t: P1Telegram) => {
        const now = Date.now();
        for (const { id, mapper } of mappers) {
          if (this.h.deviceState(id) !== 'ok') this.h.onDeviceState({ device: id, state: 'ok', reason: 'telegram received' });
          // Each value keeps its own time (gas: its M-Bus timestamp, docs/config.md): one set of readings per instant, oldest first.
          const byTs = new Map<number, DeviceReadings['values']>();
          for (const v of mapper.values(t, now)) {
            const group = byTs.get(v.tsMs) ?? [];
            group.push({ point: v.point, decoded: { raw: v.value, value: v.value, counterRaw: v.counterRaw } });
            byTs.set(v.tsMs, group);
          }
          for (const [tsMs, values] of [...byTs].sort((a, b) => a[0] - b[0])) this.h.onReadings({ device: id, tsMs, values, failed: [] });
        }
      });
      link.on('state', (state) => {
        if (state !== 'down') return;
        for (const d of devices) this.h.onDeviceState({ device: d.id, state: 'offline', reason: `link ${lc.id} down` });
      });
      this.p1Links.set(lc.id, link);
      // open() keeps retrying in the background when the port is not there yet.
      link.open().catch((err: Error) => this.log.warn({ link: lc.id, err: err.message }, 'P1 port not available yet; retrying'));
    }
  }
}

/** Narrowest phase slot, ms: a poll period has at most pollMs / PHASE_SLOT_MS slots. */
export const PHASE_SLOT_MS = 100;

/**
 * A phase per device: the devices that share a poll period are spread evenly
 * over it in slots (in config order), so polls, CPU and commits come steadily
 * instead of in one burst per period. A slot is at least PHASE_SLOT_MS wide,
 * and the devices of one slot share their phase: with one anchor (startPollers)
 * they are due at the same instant and poll in one wake-up. A wake-up of the
 * process costs more than a poll on a small gateway (measured on this 2-core
 * VM: 50 devices at 1 s, 50 slots 0.025 core, 10 slots 0.009, for the same
 * requests). Within a bus the devices then take turns rather than queue up at
 * once.
 */
export function pollPhases(devices: ReadonlyArray<{ id: string; pollMs: number }>): Map<string, number> {
  const byPeriod = new Map<number, string[]>();
  for (const d of devices) {
    const ids = byPeriod.get(d.pollMs) ?? [];
    ids.push(d.id);
    byPeriod.set(d.pollMs, ids);
  }
  const out = new Map<string, number>();
  for (const [pollMs, ids] of byPeriod) {
    const slots = Math.max(1, Math.min(ids.length, Math.floor(pollMs / PHASE_SLOT_MS)));
    ids.forEach((id, k) => out.set(id, Math.floor((Math.floor((k * slots) / ids.length) * pollMs) / slots)));
  }
  return out;
}
