/**
 * Maps DSMR P1 telegrams onto a dsmr-p1 device's points (by OBIS code). The
 * meter pushes; there is no polling. Counters go to the core as micro-units
 * (width 0); the gas counter is timed by its own M-Bus timestamp (docs/config.md).
 * A counter value sent again with the same own timestamp and value (gas
 * between its 5-minute updates, in every 1 s telegram) is the same reading,
 * not a new one: it is left out, so the core does not log an 'ignored' event
 * for it in every telegram.
 */
import type { DevicePoint } from '../config/load';
import type { P1Reading, P1Telegram } from '../links/p1-telegram';

export interface P1PointValue {
  point: DevicePoint;
  value: string;
  tsMs: number;
  /** Counters: micro-units for the core. */
  counterRaw?: bigint;
}

/** "0-1:24.2.1" and "0-2:24.2.1" are the same quantity on different M-Bus channels. */
function obisKey(obis: string): string {
  return obis.replace(/^0-\d+:24\./, '0-n:24.');
}

export class P1DeviceMapper {
  private readonly byObis = new Map<string, DevicePoint>();
  /** Last counter reading passed on per point, to leave out exact repeats. */
  private readonly lastCounter = new Map<DevicePoint, { tsMs: number; value: string }>();

  constructor(points: readonly DevicePoint[]) {
    for (const p of points) if (p.obis) this.byObis.set(obisKey(p.obis), p);
  }

  values(t: P1Telegram, receivedAtMs: number): P1PointValue[] {
    const out: P1PointValue[] = [];
    const seen = new Set<DevicePoint>();
    for (const r of Object.values(t.values) as P1Reading[]) {
      const point = this.byObis.get(obisKey(r.obis));
      if (!point || seen.has(point)) continue;
      seen.add(point);
      const tsMs = r.at ?? t.timestamp ?? receivedAtMs;
      if (point.kind === 'counter') {
        const last = this.lastCounter.get(point);
        if (last && last.tsMs === tsMs && last.value === r.value) continue;
        this.lastCounter.set(point, { tsMs, value: r.value });
      }
      out.push({ point, value: r.value, tsMs, counterRaw: point.kind === 'counter' ? r.micro : undefined });
    }
    return out;
  }
}
