/**
 * A simulated Modbus device: a register bank served on loopback and a tick
 * that advances the simulation every `tickMs`. Subclasses implement `tick`.
 */
import { RegisterBank } from './register-bank';

export abstract class SimulatedDevice {
  readonly bank = new RegisterBank();
  private timer: NodeJS.Timeout | null = null;

  async start(host: string, port: number, unitId = 1, tickMs = 250): Promise<void> {
    await this.bank.listen(host, port, unitId);
    this.timer = setInterval(() => this.tick(tickMs / 1000), tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.bank.close();
  }

  /** Advance the simulation by dt seconds. */
  abstract tick(dt: number): void;
}
