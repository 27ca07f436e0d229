/**
 * The simulated fleet of the daemon bench (bench/daemon.ts): where each
 * device's registers live, the gateway config that polls them and the
 * flows.json that bills them. Shared by the simulator child, the gateway
 * child and the metering microbench so all three agree on one layout.
 *
 * Device i is `meter-<i>` on bank floor(i / perLink) (one Modbus TCP server
 * and one gateway link per bank), unit id (i % perLink) + 1, registers from
 * (i % perLink) × STRIDE: energy (counter, uint32, 0.01 kWh), water (counter,
 * uint32, L), power (gauge, float32, W), voltage (gauge, uint16, 0.1 V) —
 * one 7-register read per device per poll.
 */

/** Registers per device in a bank. */
export const STRIDE = 8;
export const POINTS_PER_DEVICE = 4;
export const COUNTERS_PER_DEVICE = 2;

export interface FleetShape {
  devices: number;
  /** Devices per link (= per simulated Modbus server). */
  perLink: number;
  pollMs: number;
}

export interface DevicePlace {
  id: string;
  bank: number;
  unitId: number;
  /** First register of the device's block. */
  base: number;
}

export const bankCount = (s: Pick<FleetShape, 'devices' | 'perLink'>): number => Math.ceil(s.devices / s.perLink);

export function placeOf(i: number, perLink: number): DevicePlace {
  const k = i % perLink;
  return { id: `meter-${i}`, bank: Math.floor(i / perLink), unitId: k + 1, base: k * STRIDE };
}

/** Counter values at tick `t` (the simulator writes them; every tick changes both). */
export const energyAt = (i: number, t: number): number => 100_000 + i * 7 + t * (1 + (i % 3));
export const waterAt = (i: number, t: number): number => 5_000 + i + t * 2;
export const powerAt = (i: number, t: number): number => 1000 + ((i * 37 + t * 11) % 500) / 4;
/** 0.1 V: 225.0 … 234.9 V, never below the alarm level. */
export const voltageAt = (i: number, t: number): number => 2250 + ((i + t) % 100);

/** The gateway config (as JSON text, which the YAML loader reads) for `ports[bank]`. */
export function fleetConfig(s: FleetShape, ports: readonly number[]): string {
  const links = [];
  for (let b = 0; b < bankCount(s); b++) {
    const port = ports[b];
    if (port === undefined) throw new RangeError(`no simulated server for bank ${b}`);
    links.push({ id: `bank-${b}`, type: 'modbus-tcp', host: '127.0.0.1', port, timeoutMs: 1000 });
  }
  const devices = [];
  for (let i = 0; i < s.devices; i++) {
    const p = placeOf(i, s.perLink);
    devices.push({
      id: p.id,
      link: `bank-${p.bank}`,
      unitId: p.unitId,
      pollMs: s.pollMs,
      points: [
        { name: 'energy', kind: 'counter', area: 'holding', address: p.base, type: 'uint32', scale: '0.01', unit: 'kWh' },
        { name: 'water', kind: 'counter', area: 'holding', address: p.base + 2, type: 'uint32', unit: 'L' },
        { name: 'power', kind: 'gauge', area: 'holding', address: p.base + 4, type: 'float32', unit: 'W' },
        { name: 'voltage', kind: 'gauge', area: 'holding', address: p.base + 6, type: 'uint16', scale: '0.1', unit: 'V' },
      ],
    });
  }
  return JSON.stringify({
    version: 1,
    gateway: { id: 'bench', dataDir: '.', timezone: 'UTC', currency: 'NOK' },
    http: { listen: '127.0.0.1:0', editor: false },
    links,
    devices,
  });
}

/** A flat tariff on each counter and an undervoltage alarm on a gauge. */
export const fleetFlows = [
  { id: 't', type: 'tab', label: 'bench' },
  {
    id: 'tariff-energy',
    type: 'm2m-tariff',
    z: 't',
    name: 'energy',
    devices: 'meter-*',
    point: 'energy',
    payee: 'grid',
    price: '1.25',
    tou: [],
    wires: [],
  },
  {
    id: 'tariff-water',
    type: 'm2m-tariff',
    z: 't',
    name: 'water',
    devices: 'meter-*',
    point: 'water',
    payee: 'waterworks',
    price: '0.004',
    tou: [],
    wires: [],
  },
  {
    id: 'alarm-voltage',
    type: 'm2m-alarm',
    z: 't',
    name: 'undervoltage',
    devices: 'meter-*',
    point: 'voltage',
    below: '207',
    hysteresis: '2',
    wires: [],
  },
];
