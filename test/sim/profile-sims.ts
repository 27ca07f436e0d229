/**
 * Test simulators for the device profiles: in-process Modbus TCP servers
 * (gateway/cli/demo/register-bank.ts on modbus-serial's ServerTCP), each laid out
 * from its manufacturer's or standard's register map — written here from the
 * documents, independently of the profile JSON files they test:
 *
 *  - Eastron SDM120 / SDM630 (Modbus protocol documents): input registers,
 *    float32 high word first. 30001 voltage (L1), 30003/30005 L2/L3 (SDM630),
 *    30007 current (L1), 30009/30011 L2/L3, 30013 active power (SDM120 single
 *    phase), 30053 total system power (SDM630), 30073 import kWh, 30075 export kWh.
 *  - SunSpec (base 40001 Modicon = protocol address 40000): 'SunS', common
 *    model 1 (length 66), model 203 wye meter (length 105), end marker 0xFFFF.
 *    Model 203 offsets from its ID register: A 2, AphA..C 3..5, A_SF 6, PhV 7,
 *    PhVphA..C 8..10, PPV 11, PPVphAB..CA 12..14, V_SF 15, Hz 16, Hz_SF 17,
 *    W 18, WphA..C 19..21, W_SF 22, VA 23..26, VA_SF 27, VAR 28..31, VAR_SF 32,
 *    PF 33..36, PF_SF 37, TotWhExp 38 (acc32), TotWhExpPhA..C 40..45,
 *    TotWhImp 46, TotWhImpPhA..C 48..53, TotWh_SF 54 (sunspec/models json/model_203.json).
 *  - generic-water-meter (this project's map, docs/profiles.md): holding 0-1
 *    volume in litres (uint32, high word first), holding 2 flow in 0.1 L/min.
 */
import { RegisterBank } from '../../gateway/cli/demo/register-bank';

const u16 = (n: number): number => (n < 0 ? n + 0x10000 : n) & 0xffff;

export interface EastronValues {
  voltage: [number, number, number];
  current: [number, number, number];
  /** SDM120: 30013 active power; SDM630: 30053 total system power. */
  powerW: number;
  importKwh: number;
  exportKwh: number;
}

/** An Eastron SDM120 (single phase: L1 values only) or SDM630 (three phase). */
export class EastronSim {
  readonly bank = new RegisterBank();
  constructor(readonly model: 'SDM120' | 'SDM630') {}

  set(v: EastronValues): void {
    const b = this.bank;
    const f = (register: number, x: number) => b.setFloat32(b.input, register - 30001, x);
    const phases = this.model === 'SDM120' ? 1 : 3;
    for (let i = 0; i < phases; i++) {
      f(30001 + 2 * i, v.voltage[i]);
      f(30007 + 2 * i, v.current[i]);
    }
    f(this.model === 'SDM120' ? 30013 : 30053, v.powerW);
    f(30073, v.importKwh);
    f(30075, v.exportKwh);
  }
}

export const SUNSPEC_BASE = 40000;
/** Protocol address of model 203's ID register (after 'SunS' and common model 1 of length 66). */
export const SUNSPEC_METER_MODEL = SUNSPEC_BASE + 2 + 2 + 66;

export interface SunSpecMeterValues {
  /** Raw int16 registers and their scale factors, as a meter would hold them. */
  amps: [number, number, number];
  ampsSf: number;
  volts: [number, number, number];
  voltsSf: number;
  watts: number;
  wattsSf: number;
  /** Raw acc32 Wh counters and TotWh_SF. */
  whExport: number;
  whImport: number;
  whSf: number;
}

/** A SunSpec device: common model 1 + model 203 (three-phase wye meter) + end marker. */
export class SunSpecMeterSim {
  readonly bank = new RegisterBank();

  constructor() {
    const h = this.bank.holding;
    h.set([0x5375, 0x6e53], SUNSPEC_BASE); // 'SunS'
    h.set([1, 66], SUNSPEC_BASE + 2); // common model: ID, L
    this.setString(SUNSPEC_BASE + 4, 16, 'm2m-sim'); // Mn
    this.setString(SUNSPEC_BASE + 20, 16, 'wye-meter'); // Md
    const m = SUNSPEC_METER_MODEL;
    h.set([203, 105], m);
    h[m + 16] = 5000; // Hz
    h[m + 17] = u16(-2); // Hz_SF
    h.set([0xffff, 0], m + 2 + 105); // end model
  }

  set(v: SunSpecMeterValues): void {
    const h = this.bank.holding;
    const m = SUNSPEC_METER_MODEL;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    h[m + 2] = u16(sum(v.amps));
    v.amps.forEach((a, i) => (h[m + 3 + i] = u16(a)));
    h[m + 6] = u16(v.ampsSf);
    h[m + 7] = u16(Math.round(sum(v.volts) / 3));
    v.volts.forEach((x, i) => (h[m + 8 + i] = u16(x)));
    h[m + 15] = u16(v.voltsSf);
    h[m + 18] = u16(v.watts);
    h[m + 22] = u16(v.wattsSf);
    this.bank.setUint32(h, m + 38, v.whExport);
    this.bank.setUint32(h, m + 46, v.whImport);
    h[m + 54] = u16(v.whSf);
  }

  /** Write one raw register of model 203 (offset from its ID register). */
  setRaw(offset: number, value: number): void {
    this.bank.holding[SUNSPEC_METER_MODEL + offset] = u16(value);
  }

  private setString(address: number, registers: number, text: string): void {
    const bytes = Buffer.alloc(registers * 2);
    bytes.write(text, 'latin1');
    for (let i = 0; i < registers; i++) this.bank.holding[address + i] = bytes.readUInt16BE(2 * i);
  }
}

/** The generic-water-meter register map. */
export class WaterMeterSim {
  readonly bank = new RegisterBank();

  set(litres: number, flowDeciLitresPerMin: number): void {
    this.bank.setUint32(this.bank.holding, 0, litres);
    this.bank.holding[2] = flowDeciLitresPerMin;
  }
}
