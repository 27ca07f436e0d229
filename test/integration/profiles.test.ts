/**
 * Every library profile against a simulator laid out from the device's own
 * documented register map (test/sim/profile-sims.ts), read the way the daemon
 * reads it: config with `profile:` -> resolved points -> read planner ->
 * the real ModbusTcpLink -> decodePoint. dsmr-5 is checked against real
 * DSMR 5 telegrams through the P1 telegram parser.
 */
import { parseConfig } from '../../gateway/config/load';
import type { DevicePoint } from '../../gateway/config/schema';
import { counterWidth, decodePoint, type DecodedValue } from '../../gateway/devices/decode';
import { DecodeError } from '../../gateway/devices/errors';
import { listProfiles, loadProfile } from '../../gateway/config/profiles';
import { P1_POINTS, parseTelegram } from '../../gateway/links/p1-telegram';
import { ModbusTcpLink } from '../../gateway/links/modbus-tcp';
import { silentLogger } from '../../gateway/base/log';
import { planReads, sliceFor } from '../../gateway/poll/planner';
import { EnergyMeterSim } from '../../gateway/cli/demo/energy-meter-sim';
import { freePort } from '../../gateway/cli/demo/free-port';
import type { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { DSMR5, DSMR5_SPEC_BODY } from '../sim/p1-samples';
import {
  EastronSim,
  SUNSPEC_BASE,
  SUNSPEC_METER_MODEL,
  SunSpecMeterSim,
  WaterMeterSim,
  type SunSpecMeterValues,
} from '../sim/profile-sims';

jest.setTimeout(30_000);
const HOST = '127.0.0.1';
const UNIT = 7;

interface Served {
  link: ModbusTcpLink;
  points: DevicePoint[];
  /** Poll once: every point's decoded value, or the error that failed it. */
  read(): Promise<Record<string, DecodedValue | Error>>;
  close(): Promise<void>;
}

const open: Served[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

/** Serve `bank` and resolve a device with `profile` on it through the config loader. */
async function serve(bank: RegisterBank, profile: string): Promise<Served> {
  const port = await freePort(HOST);
  await bank.listen(HOST, port, UNIT);
  const cfg = parseConfig(
    `version: 1
gateway: { id: gw, timezone: UTC }
links: [{ id: bus, type: modbus-tcp, host: ${HOST}, port: ${port} }]
devices: [{ id: dev, link: bus, unitId: ${UNIT}, profile: ${profile} }]
`,
    '/srv',
  );
  const points = cfg.devices[0].points;
  const link = new ModbusTcpLink({ id: 'bus', host: HOST, port, timeoutMs: 2000 }, silentLogger());
  await link.open();
  const served: Served = {
    link,
    points,
    async read() {
      const out: Record<string, DecodedValue | Error> = {};
      for (const req of planReads(points)) {
        if (req.area !== 'holding' && req.area !== 'input') throw new Error(`unexpected ${req.area} request`);
        const data = await link.readRegisters(UNIT, req.area, req.address, req.count);
        for (const pp of req.points) {
          try {
            out[pp.point.name] = decodePoint(pp.point, sliceFor(data, pp));
          } catch (e) {
            out[pp.point.name] = e as Error;
          }
        }
      }
      return out;
    },
    async close() {
      await link.close();
      await bank.close();
    },
  };
  open.push(served);
  return served;
}

const valuesOf = (r: Record<string, DecodedValue | Error>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Error ? v.message : v.value]));

test('the library lists every profile, each one valid', () => {
  const names = listProfiles();
  expect(names).toEqual(['dsmr-5', 'eastron-sdm120', 'eastron-sdm630', 'generic', 'generic-water-meter', 'sunspec-meter']);
  for (const n of names) expect(loadProfile(n).name).toBe(n);
});

describe('eastron-sdm120', () => {
  test('reads voltage, current, power and the energy counters at their documented input registers', async () => {
    const sim = new EastronSim('SDM120');
    sim.set({ voltage: [229.7, 0, 0], current: [4.35, 0, 0], powerW: 998.2, importKwh: 1234.56, exportKwh: 7.89 });
    const s = await serve(sim.bank, 'eastron-sdm120');
    expect(s.points.map((p) => [p.name, p.area, p.address, p.type, p.kind, p.unit])).toEqual([
      ['voltage', 'input', 0, 'float32', 'gauge', 'V'],
      ['current', 'input', 6, 'float32', 'gauge', 'A'],
      ['power_w', 'input', 12, 'float32', 'gauge', 'W'],
      ['import_kwh', 'input', 72, 'float32', 'counter', 'kWh'],
      ['export_kwh', 'input', 74, 'float32', 'counter', 'kWh'],
    ]);
    const r = await s.read();
    expect(valuesOf(r)).toEqual({ voltage: '229.7', current: '4.35', power_w: '998.2', import_kwh: '1234.56', export_kwh: '7.89' });
    expect((r.import_kwh as DecodedValue).counterRaw).toBe(1_234_560_000n);

    sim.set({ voltage: [231, 0, 0], current: [0.5, 0, 0], powerW: -115.5, importKwh: 1234.57, exportKwh: 8 });
    expect(valuesOf(await s.read())).toEqual({ voltage: '231', current: '0.5', power_w: '-115.5', import_kwh: '1234.57', export_kwh: '8' });
  });
});

describe('eastron-sdm630', () => {
  test('reads the three phases, total power and the energy counters at their documented input registers', async () => {
    const sim = new EastronSim('SDM630');
    sim.set({ voltage: [230.1, 229.8, 231.4], current: [10.25, 9.5, 0.75], powerW: 4512.5, importKwh: 98765.4, exportKwh: 12.5 });
    const s = await serve(sim.bank, 'eastron-sdm630');
    expect(valuesOf(await s.read())).toEqual({
      voltage_l1: '230.1',
      voltage_l2: '229.8',
      voltage_l3: '231.4',
      current_l1: '10.25',
      current_l2: '9.5',
      current_l3: '0.75',
      power_w: '4512.5',
      import_kwh: '98765.4',
      export_kwh: '12.5',
    });
  });

  test("agrees with the demo's energy meter simulator (gateway/cli/demo/energy-meter-sim.ts)", async () => {
    const sim = new EnergyMeterSim(() => 0.5, 1500);
    const s = await serve(sim.bank, 'eastron-sdm630');
    const v = valuesOf(await s.read());
    expect(v).toMatchObject({ import_kwh: '1500', export_kwh: '0', power_w: '0', voltage_l1: '230', voltage_l3: '230', current_l2: '0' });
  });
});

describe('sunspec-meter (model 203)', () => {
  const base: SunSpecMeterValues = {
    amps: [1234, 567, 890],
    ampsSf: -2,
    volts: [2301, 2295, 2310],
    voltsSf: -1,
    watts: 12345,
    wattsSf: -1,
    whExport: 4321,
    whImport: 12_345_678,
    whSf: 0,
  };

  test("the simulator is laid out where the profile assumes: 'SunS' at 40000, model 203 at 40070", async () => {
    const sim = new SunSpecMeterSim();
    sim.set(base);
    const s = await serve(sim.bank, 'sunspec-meter');
    const head = await s.link.readRegisters(UNIT, 'holding', SUNSPEC_BASE, 4);
    expect(Buffer.from(Uint8Array.from([head[0] >> 8, head[0] & 0xff, head[1] >> 8, head[1] & 0xff])).toString('latin1')).toBe('SunS');
    expect(Array.from(head.subarray(2))).toEqual([1, 66]);
    expect(SUNSPEC_METER_MODEL).toBe(40070);
    expect(Array.from(await s.link.readRegisters(UNIT, 'holding', 40070, 2))).toEqual([203, 105]);
    expect(Array.from(await s.link.readRegisters(UNIT, 'holding', 40070 + 2 + 105, 2))).toEqual([0xffff, 0]);
  });

  test('applies each value its scale factor, read in the same request', async () => {
    const sim = new SunSpecMeterSim();
    sim.set(base);
    const s = await serve(sim.bank, 'sunspec-meter');
    const r = await s.read();
    expect(valuesOf(r)).toEqual({
      current_l1: '12.34',
      current_l2: '5.67',
      current_l3: '8.90',
      voltage_l1: '230.1',
      voltage_l2: '229.5',
      voltage_l3: '231.0',
      power_w: '1234.5',
      export_kwh: '4.321',
      import_kwh: '12345.678',
    });
    const imp = s.points.find((p) => p.name === 'import_kwh') as DevicePoint;
    expect(counterWidth(imp)).toBe(0);
    expect((r.import_kwh as DecodedValue).counterRaw).toBe(12_345_678_000n);
    expect((r.export_kwh as DecodedValue).counterRaw).toBe(4_321_000n);
  });

  test('a meter switching its energy resolution keeps counting in the same micro-units', async () => {
    const sim = new SunSpecMeterSim();
    sim.set(base);
    const s = await serve(sim.bank, 'sunspec-meter');
    const before = (await s.read()).import_kwh as DecodedValue;
    // 12 345 680 Wh, now held in units of 10 Wh
    sim.set({ ...base, whImport: 1_234_568, whSf: 1, wattsSf: 0, watts: -1500 });
    const r = await s.read();
    const after = r.import_kwh as DecodedValue;
    expect(after.value).toBe('12345.680');
    expect(after.counterRaw).toBe(12_345_680_000n);
    expect((after.counterRaw as bigint) - (before.counterRaw as bigint)).toBe(2_000n); // 2 Wh
    expect((r.power_w as DecodedValue).value).toBe('-1500');
  });

  test("SunSpec 'not implemented' values fail only their own point", async () => {
    const sim = new SunSpecMeterSim();
    sim.set(base);
    sim.setRaw(10, -0x8000); // PhVphC not implemented
    sim.setRaw(22, -0x8000); // W_SF not implemented
    const s = await serve(sim.bank, 'sunspec-meter');
    const r = await s.read();
    expect(r.voltage_l3).toBeInstanceOf(DecodeError);
    expect((r.voltage_l3 as Error).message).toMatch(/not implemented \(SunSpec int16 0x8000\)/);
    expect(r.power_w).toBeInstanceOf(DecodeError);
    expect((r.power_w as Error).message).toMatch(/scale factor not implemented/);
    expect((r.voltage_l1 as DecodedValue).value).toBe('230.1');
    expect((r.import_kwh as DecodedValue).value).toBe('12345.678');
  });
});

describe('generic-water-meter', () => {
  test('volume in litres (uint32 counter) and flow in 0.1 L/min', async () => {
    const sim = new WaterMeterSim();
    sim.set(123_456_789, 125);
    const s = await serve(sim.bank, 'generic-water-meter');
    const r = await s.read();
    expect(valuesOf(r)).toEqual({ volume_l: '123456789', flow_lpm: '12.5' });
    expect((r.volume_l as DecodedValue).counterRaw).toBe(123_456_789n);
    expect(counterWidth(s.points[0])).toBe(32);
    sim.set(0xffffffff, 0);
    expect(valuesOf(await s.read())).toEqual({ volume_l: '4294967295', flow_lpm: '0.0' });
  });
});

describe('dsmr-5', () => {
  const profile = loadProfile('dsmr-5');

  test('its OBIS codes and units are the ones the P1 parser reads for the same names', () => {
    for (const p of profile.points) {
      if (p.name === 'gas') continue;
      const known = P1_POINTS[p.name as keyof typeof P1_POINTS];
      expect({ name: p.name, obis: p.obis, unit: p.unit }).toEqual({ name: p.name, obis: known.obis, unit: known.unit });
    }
    expect(profile.points.find((p) => p.name === 'gas')).toMatchObject({ obis: '0-1:24.2.1', unit: 'm3', kind: 'counter' });
  });

  test.each([
    [
      'DSMR 5.0 example (ndokter/dsmr_parser)',
      DSMR5,
      {
        import_t1: '4.426',
        import_t2: '2.399',
        export_t1: '2.444',
        export_t2: '0',
        power_import: '0.244',
        power_export: '0',
        gas: '0.107',
      },
    ],
    [
      'DSMR 5.0.2 P1 companion standard example',
      `${DSMR5_SPEC_BODY}E47C\r\n`,
      {
        import_t1: '123456.789',
        import_t2: '123456.789',
        export_t1: '123456.789',
        export_t2: '123456.789',
        power_import: '1.193',
        power_export: '0',
        gas: '12785.123',
      },
    ],
  ])('every profile point is found in the %s', (_name, text, expected) => {
    const t = parseTelegram(text);
    const byObis = new Map<string, string>(Object.values(t.values).map((r) => [r.obis, r.value]));
    for (const m of t.mbus) byObis.set(m.obis, m.value);
    const found = Object.fromEntries(profile.points.map((p) => [p.name, byObis.get(p.obis as string)]));
    // numerically equal (the parser keeps the meter's fraction digits: "0.000")
    for (const [name, value] of Object.entries(expected)) expect(Number(found[name])).toBe(Number(value));
    expect(Object.keys(found).sort()).toEqual(Object.keys(expected).sort());
  });
});
