/**
 * The seed's water purifier, simulated behind a Modbus TCP server.
 * Register map (0-based protocol addresses, matching the demo config):
 *   holding 0-1  water      uint32 ABCD, litres treated (a counter)
 *   input   10   hardness   int16, 0.1 °dH (inlet hardness)
 *   holding 20   cartridge  uint16, % remaining
 *   holding 30   cycle      uint16, purification cycle setpoint (writable; the purifier
 *                           also adjusts it itself from the inlet hardness)
 *   coil    0    valve      inlet valve, open = water flows (writable)
 * Values evolve plausibly: flow 1.5–4.5 L/s while the valve is open, hardness drifts
 * between 8 and 22 °dH, the cartridge wears with litres × hardness and is swapped
 * for a fresh one a while after it runs out (as a service technician would).
 */
import { SimulatedDevice } from './simulated-device';

export interface PurifierSnapshot {
  litres: number;
  hardnessDh: number;
  cartridgePct: number;
  cycle: number;
  valveOpen: boolean;
}

export class PurifierSim extends SimulatedDevice {
  private litres = 0;
  private hardness = 140; // 0.1 °dH
  private wear = 0; // cartridge wear in "dH·L"
  private readonly capacity = 1_500 * 140; // litres at 14 °dH per cartridge (a few minutes of demo time)
  private exhaustedAt = 0;
  private t = 0;

  constructor(private readonly rnd: () => number = Math.random, startLitres = 0) {
    super();
    this.litres = startLitres;
    this.bank.coils[0] = 1;
    this.bank.holding[30] = 2;
    this.publish();
  }

  override tick(dt: number): void {
    this.t += dt;
    const valveOpen = this.bank.coils[0] === 1;
    this.hardness = clamp(this.hardness + (this.rnd() - 0.5) * 4 + Math.sin(this.t / 60) * 0.5, 80, 220);
    if (valveOpen) {
      const flow = 3 + Math.sin(this.t / 17) * 1.2 + (this.rnd() - 0.5) * 0.6; // L/s
      const litres = flow * dt;
      this.litres += litres;
      this.wear += litres * this.hardness;
    }
    if (this.cartridgePct() === 0) {
      this.exhaustedAt ||= this.t;
      if (this.t - this.exhaustedAt > 20) {
        this.wear = 0; // replacement cartridge fitted
        this.exhaustedAt = 0;
      }
    }
    // The purifier adapts its own cycle to the inlet hardness (1 = soft … 4 = very hard).
    this.bank.holding[30] = 1 + Math.min(3, Math.floor(this.hardness / 60));
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
