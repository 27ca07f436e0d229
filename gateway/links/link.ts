/**
 * The driver facade: the poller reaches Modbus hardware only through this.
 * One file per link type implements it (modbus-tcp.ts, modbus-rtu.ts, rtu-over-tcp.ts).
 */
import type { EventEmitter } from 'node:events';

export type Area = 'holding' | 'input' | 'coil' | 'discrete';
export type LinkState = 'connecting' | 'up' | 'down' | 'closed';

export interface ModbusLink extends EventEmitter {
  readonly id: string;
  /** Identity of the physical bus ("tcp:host:port", "serial:/dev/ttyUSB0"): one transaction queue per bus. */
  readonly busKey: string;
  readonly state: LinkState;
  /** Connect (retrying is the caller's job). Emits 'state' (LinkState) on every change. */
  open(): Promise<void>;
  close(): Promise<void>;
  /** Read `count` registers (holding/input) as 16-bit words, or `count` bits (coil/discrete). One request; never queue here. */
  readRegisters(unitId: number, area: 'holding' | 'input', address: number, count: number): Promise<Uint16Array>;
  readBits(unitId: number, area: 'coil' | 'discrete', address: number, count: number): Promise<boolean[]>;
  writeRegisters(unitId: number, address: number, words: number[]): Promise<void>;
  writeCoil(unitId: number, address: number, value: boolean): Promise<void>;
}
