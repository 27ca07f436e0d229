/**
 * ModbusTcpLink: the ModbusLink facade over modbus-serial 8 for Modbus TCP.
 *
 * Design choices:
 *  - The link owns its socket. `open()` connects a net.Socket itself (with a
 *    connect timeout = timeoutMs) and hands it to modbus-serial's
 *    `linkTCP(socket)` — the same TcpPort that `connectTCP` builds, but the
 *    link sees the socket's own 'close'/'error' events. (modbus-serial's
 *    TcpPort does not re-emit 'close' after a socket 'error', e.g. ECONNRESET
 *    when a device reboots, so listening on the client is not enough.)
 *  - On close the link goes 'down' at once and every request in flight fails
 *    with GW_ERR_LINK_DOWN instead of waiting for its timeout. Reconnecting is
 *    not done here: LinkSupervisor (gateway/poll) owns it.
 *  - Per-request timeout = timeoutMs (client.setTimeout); the unit id is set
 *    before each request (setID). Callers serialise requests through the
 *    bus queue, so there is never more than one request in flight.
 *  - Errors are mapped to coded errors (links/errors.ts): modbus exceptions
 *    (`modbusCode`) -> GW_ERR_MODBUS_EXCEPTION with exceptionCode, modbus-serial
 *    timeouts (errno ETIMEDOUT) -> GW_ERR_MODBUS_TIMEOUT, "Port Not Open" and
 *    socket errors -> GW_ERR_LINK_DOWN, CRC/length/shape errors ->
 *    GW_ERR_MODBUS_PROTOCOL.
 *  - A single register is written with FC6, several with FC16; a coil with FC5.
 *    Reads use FC1/2/3/4.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import ModbusRTU from 'modbus-serial';
import type { Logger } from '../log';
import type { LinkState, ModbusLink } from './link';
import {
  LinkDownError,
  ModbusExceptionError,
  ModbusProtocolError,
  ModbusRequestError,
  ModbusTimeoutError,
} from './errors';

export interface ModbusTcpLinkOptions {
  id: string;
  host: string;
  port: number;
  /** Per-request (and connect) timeout, ms. Default 1000. */
  timeoutMs?: number;
}

export const DEFAULT_LINK_TIMEOUT_MS = 1000;

interface LibError {
  message?: string;
  errno?: string;
  code?: string;
  modbusCode?: number;
  name?: string;
}

export class ModbusTcpLink extends EventEmitter implements ModbusLink {
  readonly id: string;
  readonly busKey: string;
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  private readonly logger: Logger;
  private stateValue: LinkState = 'closed';
  private client: ModbusRTU | null = null;
  private socket: net.Socket | null = null;
  private opening: Promise<void> | null = null;
  private readonly inFlight = new Set<(e: Error) => void>();

  constructor(opts: ModbusTcpLinkOptions, logger: Logger) {
    super();
    this.id = opts.id;
    this.host = opts.host;
    this.port = opts.port;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_LINK_TIMEOUT_MS;
    this.busKey = `tcp:${opts.host}:${opts.port}`;
    this.logger = logger.child({ link: opts.id });
  }

  get state(): LinkState {
    return this.stateValue;
  }

  open(): Promise<void> {
    if (this.stateValue === 'up') return Promise.resolve();
    if (!this.opening) {
      this.opening = this.connect().finally(() => {
        this.opening = null;
      });
    }
    return this.opening;
  }

  async close(): Promise<void> {
    const socket = this.socket;
    const closed = socket && !socket.closed ? new Promise((resolve) => socket.once('close', resolve)) : null;
    this.detach('closed', 'link closed');
    await closed;
  }

  readRegisters(unitId: number, area: 'holding' | 'input', address: number, count: number): Promise<Uint16Array> {
    const what = `read ${area} ${address}+${count} unit ${unitId}`;
    const bad = this.checkRange(what, unitId, address, count, 125);
    if (bad) return Promise.reject(bad);
    return this.transact(what, unitId, async (c) => {
      const res = area === 'holding' ? await c.readHoldingRegisters(address, count) : await c.readInputRegisters(address, count);
      if (!Array.isArray(res?.data) || res.data.length !== count) {
        throw new ModbusProtocolError(`link ${this.id}: ${what}`, `expected ${count} registers, got ${res?.data?.length}`);
      }
      return Uint16Array.from(res.data);
    });
  }

  readBits(unitId: number, area: 'coil' | 'discrete', address: number, count: number): Promise<boolean[]> {
    const what = `read ${area} ${address}+${count} unit ${unitId}`;
    const bad = this.checkRange(what, unitId, address, count, 2000);
    if (bad) return Promise.reject(bad);
    return this.transact(what, unitId, async (c) => {
      const res = area === 'coil' ? await c.readCoils(address, count) : await c.readDiscreteInputs(address, count);
      // modbus-serial unpacks whole bytes: keep the bits asked for
      if (!Array.isArray(res?.data) || res.data.length < count) {
        throw new ModbusProtocolError(`link ${this.id}: ${what}`, `expected ${count} bits, got ${res?.data?.length}`);
      }
      return res.data.slice(0, count).map(Boolean);
    });
  }

  writeRegisters(unitId: number, address: number, words: number[]): Promise<void> {
    const what = `write holding ${address}+${words.length} unit ${unitId}`;
    const bad =
      this.checkRange(what, unitId, address, words.length, 123) ??
      (words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)
        ? new ModbusRequestError(`link ${this.id}: ${what}`, 'register values must be integers 0..65535')
        : null);
    if (bad) return Promise.reject(bad);
    return this.transact(what, unitId, async (c) => {
      if (words.length === 1) await c.writeRegister(address, words[0]);
      else await c.writeRegisters(address, words);
    });
  }

  writeCoil(unitId: number, address: number, value: boolean): Promise<void> {
    const what = `write coil ${address} unit ${unitId}`;
    const bad = this.checkRange(what, unitId, address, 1, 1);
    if (bad) return Promise.reject(bad);
    return this.transact(what, unitId, async (c) => {
      await c.writeCoil(address, value);
    });
  }

  // -- connection --

  private async connect(): Promise<void> {
    this.setState('connecting', `connecting to ${this.host}:${this.port}`);
    const socket = new net.Socket();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`connect timed out after ${this.timeoutMs} ms`));
        }, this.timeoutMs);
        const onError = (e: Error) => {
          clearTimeout(timer);
          reject(e);
        };
        socket.once('error', onError);
        socket.connect({ host: this.host, port: this.port }, () => {
          clearTimeout(timer);
          socket.removeListener('error', onError);
          resolve();
        });
      });
    } catch (e) {
      socket.destroy();
      const err = new LinkDownError(this.id, `cannot connect to ${this.host}:${this.port}: ${(e as Error).message}`, {
        cause: e,
      });
      // a close() during connecting wins: stay 'closed'
      if (this.stateValue === 'connecting') this.setState('down', err.message);
      throw err;
    }
    if (this.stateValue !== 'connecting') {
      socket.destroy(); // closed while connecting
      throw new LinkDownError(this.id, 'closed while connecting');
    }
    socket.setKeepAlive(true, 10_000);
    // modbus-serial's TcpPort handles socket errors too; this listener records why it closed
    let lastError = '';
    socket.on('error', (e) => {
      lastError = e.message;
    });
    let closedEarly = false;
    socket.once('close', () => {
      if (this.socket === socket) this.detach('down', lastError ? `connection lost: ${lastError}` : 'connection closed by peer');
      else closedEarly = true;
    });
    const client = new ModbusRTU();
    client.on('error', () => {}); // port errors surface as failed requests and 'close'; never crash the daemon
    await client.linkTCP(socket, { port: this.port });
    client.setTimeout(this.timeoutMs);
    if (closedEarly || this.stateValue !== 'connecting') {
      socket.destroy();
      if (this.stateValue === 'connecting') this.setState('down', 'connection closed while linking');
      throw new LinkDownError(this.id, 'connection closed while connecting');
    }
    this.client = client;
    this.socket = socket;
    this.setState('up', `connected to ${this.host}:${this.port}`);
  }

  /** Forget the connection, fail requests in flight, and enter `state`. */
  private detach(state: 'down' | 'closed', reason: string): void {
    const socket = this.socket;
    this.socket = null;
    this.client = null;
    if (socket && !socket.destroyed) socket.destroy();
    const err = new LinkDownError(this.id, reason);
    for (const fail of this.inFlight) fail(err);
    this.inFlight.clear();
    this.setState(state, reason);
  }

  private setState(state: LinkState, reason: string): void {
    const prev = this.stateValue;
    if (state === prev) return;
    this.stateValue = state;
    // log the transitions that matter once; reconnect attempts (connecting -> down) stay at debug
    const level = state === 'up' || (state === 'down' && prev === 'up') ? (state === 'up' ? 'info' : 'warn') : 'debug';
    this.logger[level]({ state, reason }, `link ${this.id} ${state}`);
    this.emit('state', state);
  }

  // -- requests --

  /** A GW_ERR_MODBUS_REQUEST error when the request cannot be carried, else null. */
  private checkRange(what: string, unitId: number, address: number, count: number, maxCount: number): ModbusRequestError | null {
    const ctx = `link ${this.id}: ${what}`;
    if (!Number.isInteger(unitId) || unitId < 0 || unitId > 255) return new ModbusRequestError(ctx, 'unit id must be 0..255');
    if (!Number.isInteger(count) || count < 1 || count > maxCount) {
      return new ModbusRequestError(ctx, `count must be 1..${maxCount}`);
    }
    if (!Number.isInteger(address) || address < 0 || address + count > 0x10000) {
      return new ModbusRequestError(ctx, 'address range outside 0..65535');
    }
    return null;
  }

  private transact<T>(what: string, unitId: number, fn: (c: ModbusRTU) => Promise<T>): Promise<T> {
    const client = this.client;
    if (this.stateValue !== 'up' || !client) {
      return Promise.reject(new LinkDownError(this.id, `${what}: link is ${this.stateValue}`));
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(fail);
        reject(e);
      };
      this.inFlight.add(fail);
      client.setID(unitId);
      fn(client).then(
        (v) => {
          if (settled) return;
          settled = true;
          this.inFlight.delete(fail);
          resolve(v);
        },
        (e: unknown) => fail(this.mapError(what, e)),
      );
    });
  }

  private mapError(what: string, e: unknown): Error {
    if (e instanceof ModbusProtocolError || e instanceof ModbusRequestError || e instanceof LinkDownError) return e;
    const err = (e ?? {}) as LibError;
    const ctx = `link ${this.id}: ${what}`;
    if (typeof err.modbusCode === 'number') return new ModbusExceptionError(err.modbusCode, ctx, { cause: e });
    if (err.errno === 'ETIMEDOUT' || err.name === 'TransactionTimedOutError') {
      return new ModbusTimeoutError(ctx, this.timeoutMs, { cause: e });
    }
    if (err.name === 'PortNotOpenError' || this.stateValue !== 'up') {
      return new LinkDownError(this.id, `${what}: ${err.message ?? 'port not open'}`, { cause: e });
    }
    if (err.code && /^E[A-Z]+$/.test(err.code)) {
      return new LinkDownError(this.id, `${what}: ${err.message ?? err.code}`, { cause: e });
    }
    return new ModbusProtocolError(ctx, err.message ?? String(e), { cause: e });
  }
}
