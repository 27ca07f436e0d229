/**
 * The fleet of the fleet bench (bench/fleet.ts): where each device's points
 * live, what the simulator serves there, and the gateway config + flows.json
 * that poll and price them. Shared by the simulator (bench/fleet-sim.ts) and
 * the runner so both agree on one layout. Imports nothing from gateway/: the
 * gateway is reached only through its CLI, its HTTP API and /metrics.
 *
 * Device i is `dev-<i>`, alone on its own Modbus TCP endpoint (one port, one
 * gateway link, unit id 1). Its points c00 … c29 are uint16 counters in the
 * holding registers:
 *  - contiguous: addresses 0 … 29 (one 30-register read per poll);
 *  - scattered:  addresses 0, 7, 14 … 203 (30 registers spread over 204
 *    addresses; the gateway gap-fills them into two reads, 198 registers).
 * Every holding register of the simulator is such a counter, advancing by
 * 1 … 3 per tick and wrapping at 65536, so the gateway bills a delta on
 * (nearly) every reading and sees an occasional uint16 rollover.
 */

export type Layout = 'contiguous' | 'scattered';

export const POINTS_PER_DEVICE = 30;
/** Span of the scattered map: 30 registers over this many addresses. */
export const SCATTERED_SPAN = 204;
/** Holding/input registers (and coils/discretes) each simulated device serves. */
export const SIM_REGISTERS = 256;

/** The gateway's documented default read-plan limits (docs/config.md `maxRegisters`; gap fill 8). */
export const GATEWAY_PLAN = { maxRegisters: 125, maxGap: 8 } as const;

/** Holding-register addresses of a device's points, in point order. */
export function pointAddresses(layout: Layout, points = POINTS_PER_DEVICE): number[] {
  if (layout === 'contiguous' || points < 2) return Array.from({ length: points }, (_, k) => k);
  const step = (SCATTERED_SPAN - 1) / (points - 1);
  return Array.from({ length: points }, (_, k) => Math.round(k * step));
}

/**
 * What the gateway is expected to put on the wire per poll for `addresses`
 * (uint16 points), planned as docs/config.md describes: merge while the gap
 * is at most maxGap and the request stays within maxRegisters. Used only to
 * turn the simulator's served registers back into points for the cross-check.
 */
export function plannedReads(addresses: readonly number[], plan = GATEWAY_PLAN): { requests: number; registers: number } {
  const sorted = [...addresses].sort((a, b) => a - b);
  let requests = 0;
  let registers = 0;
  let start = -1;
  let end = -1; // exclusive
  for (const a of sorted) {
    if (start >= 0 && a - end <= plan.maxGap && a + 1 - start <= plan.maxRegisters) {
      end = Math.max(end, a + 1);
      continue;
    }
    if (start >= 0) registers += end - start;
    requests++;
    start = a;
    end = a + 1;
  }
  if (start >= 0) registers += end - start;
  return { requests, registers };
}

/** Counter value of register `addr` of device `dev` at tick `t` (uint16, wraps). */
export function counterAt(dev: number, addr: number, t: number): number {
  let h = Math.imul(dev + 1, 0x9e3779b1) ^ Math.imul(addr + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 12;
  const seed = h >>> 16;
  const rate = 1 + ((h & 0xff) % 3); // 1 … 3, about 60 per device per tick in all: devices drift apart slowly
  return (seed + rate * t) & 0xffff;
}

/** A slowly moving gauge for the input registers (0 … 999). */
export const gaugeAt = (dev: number, addr: number, t: number): number => (dev * 7 + addr * 13 + t) % 1000;

export const pointName = (k: number): string => `c${String(k).padStart(2, '0')}`;
export const deviceId = (i: number): string => `dev-${i}`;

/** Price per unit (L) of every counter, and the settlement config. */
export const TARIFF_PRICE = '0.0001';
export const SETTLEMENT = { threshold: '1', intervalS: 3600 } as const;
/**
 * What that means for the ledger: a device moves about 60 units per second in
 * all (30 counters × 2 on average), so it accrues about 0.006 per second and
 * its channel (dev-i > grid) reaches the threshold about every 170 s: about 3
 * vouchers per second for 500 devices, on top of the hourly interval.
 */
export const MONEY = { unitsPerDevicePerSec: 60, voucherEveryS: 1 / (60 * Number(TARIFF_PRICE)) } as const;

export interface FleetConfigSpec {
  devices: number;
  pollMs: number;
  layout: Layout;
  /** Port of device i's endpoint on 127.0.0.1. */
  ports: readonly number[];
  editor: boolean;
  settlement: boolean;
  points?: number;
}

/** The gateway config as JSON text (the YAML loader reads JSON); dataDir is the relative `data`. */
export function fleetConfig(s: FleetConfigSpec): string {
  const points = s.points ?? POINTS_PER_DEVICE;
  const addresses = pointAddresses(s.layout, points);
  const pointList = addresses.map((address, k) => ({
    name: pointName(k),
    kind: 'counter',
    area: 'holding',
    address,
    type: 'uint16',
    unit: 'L',
  }));
  const links = [];
  const devices = [];
  for (let i = 0; i < s.devices; i++) {
    const port = s.ports[i];
    if (port === undefined) throw new RangeError(`no simulated endpoint for device ${i}`);
    links.push({ id: `ep-${i}`, type: 'modbus-tcp', host: '127.0.0.1', port, timeoutMs: 1000 });
    devices.push({ id: deviceId(i), link: `ep-${i}`, unitId: 1, pollMs: s.pollMs, points: pointList });
  }
  const cfg: Record<string, unknown> = {
    version: 1,
    gateway: { id: 'bench-fleet', dataDir: 'data', timezone: 'UTC', currency: 'NOK' },
    http: { listen: '127.0.0.1:0', editor: s.editor },
    links,
    devices,
  };
  if (s.settlement) cfg.settlement = { ...SETTLEMENT };
  return JSON.stringify(cfg);
}

/** One tariff per point name, every device selected by a glob; all pay the payee `grid`. */
export function fleetFlows(points = POINTS_PER_DEVICE): unknown[] {
  const flows: unknown[] = [{ id: 'f1ee700000000001', type: 'tab', label: 'fleet bench', disabled: false, info: '' }];
  for (let k = 0; k < points; k++) {
    flows.push({
      id: `f1ee7000000001${k.toString(16).padStart(2, '0')}`,
      type: 'm2m-tariff',
      z: 'f1ee700000000001',
      name: `${pointName(k)} price`,
      devices: 'dev-*',
      point: pointName(k),
      payee: 'grid',
      price: TARIFF_PRICE,
      tou: [],
      x: 160,
      y: 40 + 40 * k,
      wires: [],
    });
  }
  return flows;
}
