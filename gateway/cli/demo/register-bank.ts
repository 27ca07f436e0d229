/**
 * An in-memory Modbus register image (holding, input, coils, discrete) served
 * by modbus-serial's ServerTCP. Simulators write engineering values into it
 * with the same encodings a real device uses (uint32/float32, big-endian words).
 */
// modbus-serial ships no types for its server.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ServerTCP } = require('modbus-serial') as { ServerTCP: new (vector: object, opts: object) => ServerHandle };

interface ServerHandle {
  on(ev: string, cb: (...a: unknown[]) => void): void;
  close(cb: () => void): void;
}

export type RegisterWriteHook = (area: 'holding' | 'coil', address: number, value: number | boolean) => void;

export class RegisterBank {
  readonly holding = new Uint16Array(65536);
  readonly input = new Uint16Array(65536);
  readonly coils = new Uint8Array(65536);
  readonly discrete = new Uint8Array(65536);
  private server: ServerHandle | null = null;
  onWrite: RegisterWriteHook | null = null;

  setUint32(table: Uint16Array, address: number, v: number): void {
    table[address] = Math.floor(v / 0x10000) & 0xffff;
    table[address + 1] = v & 0xffff;
  }

  setFloat32(table: Uint16Array, address: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatBE(v);
    table[address] = b.readUInt16BE(0);
    table[address + 1] = b.readUInt16BE(2);
  }

  /** Serve the bank on host:port for `unitId` (other unit ids get no answer, like an absent slave). */
  listen(host: string, port: number, unitId: number): Promise<void> {
    const vector = {
      getHoldingRegister: (addr: number) => this.holding[addr],
      getMultipleHoldingRegisters: (addr: number, len: number) => Array.from(this.holding.subarray(addr, addr + len)),
      getMultipleInputRegisters: (addr: number, len: number) => Array.from(this.input.subarray(addr, addr + len)),
      getInputRegister: (addr: number) => this.input[addr],
      getCoil: (addr: number) => this.coils[addr] === 1,
      getDiscreteInput: (addr: number) => this.discrete[addr] === 1,
      setRegister: (addr: number, value: number) => {
        this.holding[addr] = value & 0xffff;
        this.onWrite?.('holding', addr, value);
      },
      setCoil: (addr: number, value: boolean) => {
        this.coils[addr] = value ? 1 : 0;
        this.onWrite?.('coil', addr, value);
      },
    };
    return new Promise((resolve, reject) => {
      const server = new ServerTCP(vector, { host, port, unitID: unitId });
      server.on('initialized', () => resolve());
      server.on('serverError', (e) => reject(e));
      this.server = server;
    });
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }
}
