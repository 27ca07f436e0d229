/**
 * ModbusClientLink: what every Modbus link (modbus-tcp, rtu-over-tcp,
 * modbus-rtu) shares on top of a modbus-serial client — the ModbusLink facade,
 * its state machine, request checks, error mapping and counters. A link type
 * only says how its transport is opened (`attach`) and dropped
 * (`dropTransport`), and reports a transport that closed by itself
 * (`transportLost`).
 *
 *  - open() is shared by concurrent callers; a close() while connecting wins.
 *  - On a transport loss the link goes 'down' at once and every request in
 *    flight fails with GW_ERR_LINK_DOWN instead of waiting for its timeout.
 *    Reconnecting is not done here: LinkSupervisor (gateway/poll) owns it.
 *  - Per-request timeout = timeoutMs (client.setTimeout); the unit id is set
 *    before each request (setID). Callers serialise requests through the bus
 *    queue, so there is never more than one request in flight.
 *  - Errors are mapped to coded errors (links/errors.ts): modbus exceptions
 *    (`modbusCode`) -> GW_ERR_MODBUS_EXCEPTION with exceptionCode, modbus-serial
 *    timeouts (errno ETIMEDOUT) -> GW_ERR_MODBUS_TIMEOUT, "Port Not Open" and
 *    transport errors -> GW_ERR_LINK_DOWN, CRC/length/shape errors ->
 *    GW_ERR_MODBUS_PROTOCOL.
 *  - A single register is written with FC6, several with FC16; a coil with FC5.
 *    Reads use FC1/2/3/4.
 *  - stats() counts requests and their outcomes since the link was created.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../base/log';
import type { LinkState, ModbusLink } from './link';
import { LinkDownError, ModbusExceptionError, ModbusProtocolError, ModbusRequestError, ModbusTimeoutError } from './errors';

export const DEFAULT_LINK_TIMEOUT_MS = 1000;

/**
 * The client calls a link makes: modbus-serial's client (RTU links) and the
 * lean MbapClient (modbus-tcp, mbap-client.ts) both have them.
 */
export interface ModbusClient {
  setID(unitId: number): void;
  setTimeout(ms: number): void;
  readHoldingRegisters(address: number, count: number): Promise<{ data: ArrayLike<number> }>;
  readInputRegisters(address: number, count: number): Promise<{ data: ArrayLike<number> }>;
  readCoils(address: number, count: number): Promise<{ data: ArrayLike<boolean> }>;
  readDiscreteInputs(address: number, count: number): Promise<{ data: ArrayLike<boolean> }>;
  writeRegister(address: number, value: number): Promise<unknown>;
  writeRegisters(address: number, values: number[]): Promise<unknown>;
  writeCoil(address: number, value: boolean): Promise<unknown>;
}

/** Counters of one link since it was created. */
export interface LinkStats {
  state: LinkState;
  /** Requests put on the wire. */
  requests: number;
  /** Requests answered with data (or a write confirmation). */
  ok: number;
  /** Requests answered with a Modbus exception. */
  exceptions: number;
  /** Requests without a (valid) answer within timeoutMs. */
  timeouts: number;
  /** Requests failed with an invalid answer (bad CRC, truncated, wrong shape). */
  protocolErrors: number;
  /** Requests refused or aborted because the link was or went down. */
  linkDown: number;
  /** Reply frames dropped for a bad CRC (RTU links; 0 for Modbus TCP). */
  crcErrors: number;
  /** Reply frames that stopped short (RTU links). */
  truncatedFrames: number;
  /** Valid frames that answered no pending request, e.g. late replies (RTU links). */
  strayFrames: number;
  /** Bytes on the line outside any frame (RTU links). */
  noiseBytes: number;
  /** Successful opens (the first one included). */
  connects: number;
  /** Times an open transport went away by itself. */
  disconnects: number;
}

type RequestCounters = Omit<LinkStats, 'state' | 'crcErrors' | 'truncatedFrames' | 'strayFrames' | 'noiseBytes'>;

interface LibError {
  message?: string;
  errno?: string;
  code?: string;
  modbusCode?: number;
  name?: string;
}

export interface ModbusClientLinkOptions {
  id: string;
  busKey: string;
  timeoutMs?: number;
}

export abstract class ModbusClientLink extends EventEmitter implements ModbusLink {
  readonly id: string;
  readonly busKey: string;
  readonly timeoutMs: number;
  protected readonly logger: Logger;
  private stateValue: LinkState = 'closed';
  private client: ModbusClient | null = null;
  private opening: Promise<void> | null = null;
  private readonly inFlight = new Set<(e: Error) => void>();
  private readonly counters: RequestCounters = {
    requests: 0,
    ok: 0,
    exceptions: 0,
    timeouts: 0,
    protocolErrors: 0,
    linkDown: 0,
    connects: 0,
    disconnects: 0,
  };

  constructor(opts: ModbusClientLinkOptions, logger: Logger) {
    super();
    this.id = opts.id;
    this.busKey = opts.busKey;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_LINK_TIMEOUT_MS;
    this.logger = logger.child({ link: opts.id });
  }

  /** Where the link goes, for messages ("127.0.0.1:502", "/dev/ttyUSB0"). */
  protected abstract get endpoint(): string;
  /**
   * Open the transport and return a modbus-serial client on it. Throw if it
   * cannot be opened (leaving nothing open). After it resolved, a transport
   * that closes by itself must be reported with `transportLost`.
   */
  protected abstract attach(): Promise<ModbusClient>;
  /** Forget and close the current transport (if any); resolves when it is closed. */
  protected abstract dropTransport(): Promise<void>;

  /** Framing counters of the transport (RTU links override). */
  protected framingStats(): Pick<LinkStats, 'crcErrors' | 'truncatedFrames' | 'strayFrames' | 'noiseBytes'> {
    return { crcErrors: 0, truncatedFrames: 0, strayFrames: 0, noiseBytes: 0 };
  }

  /** A request timed out: a better error for it (RTU: a garbled reply was on the line), or null. */
  protected explainTimeout(_ctx: string): Error | null {
    return null;
  }

  get state(): LinkState {
    return this.stateValue;
  }

  stats(): LinkStats {
    return { state: this.stateValue, ...this.counters, ...this.framingStats() };
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
    await this.detach('closed', 'link closed');
  }

  readRegisters(unitId: number, area: 'holding' | 'input', address: number, count: number): Promise<Uint16Array> {
    const what = `read ${area} ${address}+${count} unit ${unitId}`;
    const bad = this.checkRange(what, unitId, address, count, 125);
    if (bad) return Promise.reject(bad);
    return this.transact(what, unitId, async (c) => {
      const res = area === 'holding' ? await c.readHoldingRegisters(address, count) : await c.readInputRegisters(address, count);
      const data = res?.data;
      if (!(data instanceof Uint16Array || Array.isArray(data)) || data.length !== count) {
        throw new ModbusProtocolError(`link ${this.id}: ${what}`, `expected ${count} registers, got ${data?.length}`);
      }
      return data instanceof Uint16Array ? data : Uint16Array.from(data);
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
      return Array.from(res.data).slice(0, count).map(Boolean);
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

  // -- for link types --

  /** The transport went away by itself: the link is down, requests in flight fail. */
  protected transportLost(reason: string): void {
    if (this.stateValue !== 'up') return;
    this.counters.disconnects += 1;
    void this.detach('down', reason);
  }

  /** Fail the request in flight (an RTU reply arrived broken). */
  protected failInFlight(err: Error): void {
    for (const fail of [...this.inFlight]) fail(err);
  }

  /** True while an open() is in progress and not overtaken by close(). */
  protected get connecting(): boolean {
    return this.stateValue === 'connecting';
  }

  // -- connection --

  private async connect(): Promise<void> {
    this.setState('connecting', `connecting to ${this.endpoint}`);
    let client: ModbusClient;
    try {
      client = await this.attach();
    } catch (e) {
      const err =
        e instanceof LinkDownError
          ? e
          : new LinkDownError(this.id, `cannot connect to ${this.endpoint}: ${(e as Error).message}`, { cause: e });
      // a close() during connecting wins: stay 'closed'
      if (this.stateValue === 'connecting') this.setState('down', err.message);
      throw err;
    }
    if (this.stateValue !== 'connecting') {
      await this.dropTransport(); // closed while connecting
      throw new LinkDownError(this.id, 'closed while connecting');
    }
    client.setTimeout(this.timeoutMs);
    this.client = client;
    this.counters.connects += 1;
    this.setState('up', `connected to ${this.endpoint}`);
  }

  /** Forget the connection, fail requests in flight, and enter `state`; resolves when the transport is closed. */
  private detach(state: 'down' | 'closed', reason: string): Promise<void> {
    this.client = null;
    const closed = this.dropTransport();
    const err = new LinkDownError(this.id, reason);
    for (const fail of [...this.inFlight]) fail(err);
    this.inFlight.clear();
    this.setState(state, reason);
    return closed;
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

  private transact<T>(what: string, unitId: number, fn: (c: ModbusClient) => Promise<T>): Promise<T> {
    const client = this.client;
    if (this.stateValue !== 'up' || !client) {
      this.counters.linkDown += 1;
      return Promise.reject(new LinkDownError(this.id, `${what}: link is ${this.stateValue}`));
    }
    this.counters.requests += 1;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(fail);
        this.count(e);
        reject(e);
      };
      this.inFlight.add(fail);
      client.setID(unitId);
      fn(client).then(
        (v) => {
          if (settled) return;
          settled = true;
          this.inFlight.delete(fail);
          this.counters.ok += 1;
          resolve(v);
        },
        (e: unknown) => {
          if (!settled) fail(this.mapError(what, e));
        },
      );
    });
  }

  private count(e: Error): void {
    if (e instanceof ModbusExceptionError) this.counters.exceptions += 1;
    else if (e instanceof ModbusTimeoutError) this.counters.timeouts += 1;
    else if (e instanceof LinkDownError) this.counters.linkDown += 1;
    else this.counters.protocolErrors += 1;
  }

  private mapError(what: string, e: unknown): Error {
    if (e instanceof ModbusProtocolError || e instanceof ModbusRequestError || e instanceof LinkDownError) return e;
    const err = (e ?? {}) as LibError;
    const ctx = `link ${this.id}: ${what}`;
    if (typeof err.modbusCode === 'number') return new ModbusExceptionError(err.modbusCode, ctx, { cause: e });
    if (err.errno === 'ETIMEDOUT' || err.name === 'TransactionTimedOutError') {
      return this.explainTimeout(ctx) ?? new ModbusTimeoutError(ctx, this.timeoutMs, { cause: e });
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

/** The counters of a Modbus link built here (all three types), or null for another ModbusLink. */
export function linkStats(link: ModbusLink): LinkStats | null {
  return link instanceof ModbusClientLink ? link.stats() : null;
}
