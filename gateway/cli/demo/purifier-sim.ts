/**
 * The seed's water purifier, simulated behind a Modbus TCP server.
 * Register map (0-based protocol addresses, matching the demo config):
 *   holding 0-1  water      uint32 ABCD, litres treated (a counter)
 *   input   10   hardness   int16, 0.1 °dH (inlet hardness)
 *   holding 20   cartridge  uint16, % remaining
 *   holding 30   cycle      uint16, purification cycle 1..4 (written by the gateway's
 *                           m2m-control; the purifier only obeys it)
 *   coil    0    valve      inlet valve, open = water flows (writable)
 * Values evolve plausibly: hardness drifts between 8 and 22 °dH; a longer cycle
 * treats the water longer (less flow); a cycle too short for the hardness wears
 * the cartridge faster. The cartridge wears with litres × hardness (in a couple
 * of minutes: demo time) and is replaced only by `replaceCartridge()`, i.e. when
 * the service centre visits.
 */
import { SimulatedDevice } from './simulated-device';

export interface PurifierSnapshot {
  litres: number;
  hardnessDh: number;
  cartridgePct: number;
  cycle: number;
  valveOpen: boolean;
  cartridgesFitted: number;
}

export interface PurifierStart {
  litres?: number;
  /** Cartridge left, % (default a new one). */
  cartridgePct?: number;
}

export class PurifierSim extends SimulatedDevice {
  private litres = 0;
  private hardness = 140; // 0.1 °dH
  private wear = 0; // cartridge wear in "dH·L"
  private readonly capacity = 360 * 140; // litres at 14 °dH per cartridge: about two minutes of demo time
  private fitted = 0;
  private t = 0;

  constructor(
    private readonly rnd: () => number = Math.random,
    start: PurifierStart = {},
  ) {
    super();
    this.litres = start.litres ?? 0;
    this.wear = this.capacity * (1 - Math.min(100, Math.max(0, start.cartridgePct ?? 100)) / 100);
    this.bank.coils[0] = 1;
    this.bank.holding[30] = 1;
    this.publish();
  }

  override tick(dt: number): void {
    this.t += dt;
    const valveOpen = this.bank.coils[0] === 1;
    this.hardness = clamp(this.hardness + (this.rnd() - 0.5) * 4 + Math.sin(this.t / 60) * 0.5, 80, 220);
    const cycle = clamp(this.bank.holding[30] || 1, 1, 4);
    if (valveOpen && this.cartridgePct() > 0) {
      const flow = (3.6 - 0.3 * cycle) * (1 + Math.sin(this.t / 17) * 0.3) + (this.rnd() - 0.5) * 0.4; // L/s
      const litres = flow * dt;
      const needed = 1 + Math.min(3, Math.floor(this.hardness / 60));
      const overload = 1 + 0.5 * Math.max(0, needed - cycle); // too short a cycle for this hardness
      this.litres += litres;
      this.wear += litres * this.hardness * overload;
    }
    this.publish();
  }

  /** A technician fits a new cartridge (the service visit). */
  replaceCartridge(): void {
    this.wear = 0;
    this.fitted += 1;
    this.publish();
  }

  cartridgePct(): number {
    return Math.max(0, Math.round(100 - (this.wear / this.capacity) * 100));
  }

  snapshot(): PurifierSnapshot {
    return {
      litres: Math.floor(this.litres),
      hardnessDh: Math.round(this.hardness) / 10,
      cartridgePct: this.cartridgePct(),
      cycle: this.bank.holding[30],
      valveOpen: this.bank.coils[0] === 1,
      cartridgesFitted: this.fitted,
    };
  }

  private publish(): void {
    this.bank.setUint32(this.bank.holding, 0, Math.floor(this.litres) >>> 0);
    this.bank.input[10] = Math.round(this.hardness) & 0xffff;
    this.bank.holding[20] = this.cartridgePct();
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
