/**
 * A three-phase energy meter with the Eastron SDM630 input-register map
 * (float32, big-endian words), the one the `eastron-sdm630` profile reads:
 *   30001/3/5 voltage L1..L3 (V)  -> input 0, 2, 4
 *   30007/9/11 current L1..L3 (A) -> input 6, 8, 10
 *   30053 total system power (W)  -> input 52
 *   30073 import energy (kWh)     -> input 72
 *   30075 export energy (kWh)     -> input 74
 */
import { SimulatedDevice } from './simulated-device';

export class EnergyMeterSim extends SimulatedDevice {
  private importKwh: number;
  private exportKwh = 0;
  private t = 0;

  constructor(
    private readonly rnd: () => number = Math.random,
    startKwh = 1500,
  ) {
    super();
    this.importKwh = startKwh;
    this.publish(0, [0, 0, 0], [230, 230, 230]);
  }

  override tick(dt: number): void {
    this.t += dt;
    const volts = [0, 1, 2].map(() => 230 + (this.rnd() - 0.5) * 6);
    // The purifier's pump and UV lamp, plus a base load: 2–6 kW.
    const amps = [0, 1, 2].map((i) => 4 + 3 * Math.abs(Math.sin(this.t / 30 + i)) + this.rnd());
    const powerW = volts.reduce((s, v, i) => s + v * amps[i], 0);
    // Demo clock runs 60x so that the kWh counter visibly moves.
    this.importKwh += (powerW / 1000) * (dt / 3600) * 60;
    this.publish(powerW, amps, volts);
  }

  importKwhNow(): number {
    return this.importKwh;
  }

  private publish(powerW: number, amps: number[], volts: number[]): void {
    const b = this.bank;
    volts.forEach((v, i) => b.setFloat32(b.input, i * 2, v));
    amps.forEach((a, i) => b.setFloat32(b.input, 6 + i * 2, a));
    b.setFloat32(b.input, 52, powerW);
    b.setFloat32(b.input, 72, this.importKwh);
    b.setFloat32(b.input, 74, this.exportKwh);
  }
}
