/**
 * DSMR P1 link: a smart meter pushing telegrams over a serial port (usually a
 * USB adapter). The port is piped into a P1TelegramParser; every valid
 * telegram is emitted as 'telegram'. When the port goes away (USB unplug, the
 * adapter resets) the link reopens it with capped exponential backoff and
 * jitter, without a daemon restart. It never emits 'error': trouble shows in
 * 'state', stats() and the log.
 */
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import type { LinkState } from './link';
import type { Logger } from '../base/log';
import { silentLogger } from '../base/log';
import { P1ClosedError, P1OptionsError, P1PortError } from './p1-errors';
import { P1TelegramParser, type P1ParserStats } from './p1-framer';
import type { P1Telegram } from './p1-telegram';

export type P1Parity = 'none' | 'even' | 'odd';

export interface DsmrP1LinkOptions {
  /** Link id from the config (logs, health). Default: the path. */
  id?: string;
  /** Serial device, e.g. /dev/ttyUSB0. */
  path: string;
  /** Default 115200 (DSMR 4+/5). DSMR 2.2/3.0: 9600 with dataBits 7, parity even (DSMR_22_SERIAL). */
  baudRate?: number;
  dataBits?: 7 | 8;
  parity?: P1Parity;
  stopBits?: 1 | 2;
  /** Parser cap on one telegram, default 16 KiB. */
  maxTelegramBytes?: number;
  /** Insist on a CRC even for telegrams without a version line. Default false. */
  requireCrc?: boolean;
  /** Reopen backoff: first delay and cap in ms (defaults 500 and 30000), doubled per failure, jittered. */
  reconnect?: { initialMs?: number; maxMs?: number };
  logger?: Logger;
}

/** Serial settings of DSMR 2.2/3.0 meters: 9600 7E1. */
export const DSMR_22_SERIAL = { baudRate: 9600, dataBits: 7, parity: 'even', stopBits: 1 } as const;

export interface P1LinkStats extends P1ParserStats {
  state: LinkState;
  /** Bytes read from the port since the link was created. */
  bytes: number;
  /** Successful port opens (the first one included). */
  opens: number;
  openFailures: number;
  /** Times an open port went away. */
  disconnects: number;
  /** Epoch ms of the last telegram passed on, null before the first. */
  lastTelegramAt: number | null;
}

export interface DsmrP1LinkEvents {
  telegram: [P1Telegram];
  state: [LinkState];
}

export class DsmrP1Link extends EventEmitter<DsmrP1LinkEvents> {
  readonly id: string;
  readonly path: string;
  /** Identity of the physical bus, as ModbusLink has it. */
  readonly busKey: string;
  private readonly settings: { baudRate: number; dataBits: 7 | 8; parity: P1Parity; stopBits: 1 | 2 };
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly log: Logger;
  private readonly parser: P1TelegramParser;
  private port: SerialPort | undefined;
  private _state: LinkState = 'closed';
  private started = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private counters = { bytes: 0, opens: 0, openFailures: 0, disconnects: 0, lastTelegramAt: null as number | null };

  constructor(options: DsmrP1LinkOptions) {
    super();
    const o = options;
    if (typeof o?.path !== 'string' || o.path === '') throw new P1OptionsError('path must be a non-empty string');
    const baudRate = o.baudRate ?? 115200;
    if (!Number.isInteger(baudRate) || baudRate <= 0)
      throw new P1OptionsError(`baudRate must be a positive integer, got ${String(baudRate)}`);
    const dataBits = o.dataBits ?? 8;
    if (dataBits !== 7 && dataBits !== 8) throw new P1OptionsError(`dataBits must be 7 or 8, got ${String(dataBits)}`);
    const parity = o.parity ?? 'none';
    if (!['none', 'even', 'odd'].includes(parity)) throw new P1OptionsError(`parity must be none|even|odd, got ${String(parity)}`);
    const stopBits = o.stopBits ?? 1;
    if (stopBits !== 1 && stopBits !== 2) throw new P1OptionsError(`stopBits must be 1 or 2, got ${String(stopBits)}`);
    this.initialMs = o.reconnect?.initialMs ?? 500;
    this.maxMs = o.reconnect?.maxMs ?? 30_000;
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs)) {
      throw new P1OptionsError('reconnect needs 0 < initialMs <= maxMs');
    }
    this.id = o.id ?? o.path;
    this.path = o.path;
    this.busKey = `serial:${o.path}`;
    this.settings = { baudRate, dataBits, parity, stopBits };
    this.log = (o.logger ?? silentLogger()).child({ link: this.id });
    this.parser = new P1TelegramParser({ maxTelegramBytes: o.maxTelegramBytes, requireCrc: o.requireCrc });
    this.parser.on('data', (t: P1Telegram) => this.deliver(t));
  }

  get state(): LinkState {
    return this._state;
  }

  stats(): P1LinkStats {
    return { ...this.parser.stats, ...this.counters, state: this._state };
  }

  /**
   * Start the link. Resolves once the port is open; if this first attempt
   * fails it rejects with P1PortError, and the link keeps retrying in the
   * background (state 'down' -> 'connecting' -> 'up') until close().
   * On a link that is already started it resolves when the port is up.
   */
  open(): Promise<void> {
    if (this.started) return this.port?.isOpen ? Promise.resolve() : this.whenUp();
    this.started = true;
    this.failures = 0;
    return this.connect();
  }

  /** Stop: close the port, cancel retries. Idempotent. */
  async close(): Promise<void> {
    this.started = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const port = this.port;
    this.port = undefined;
    if (port) {
      port.unpipe(this.parser);
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    this.parser.reset();
    this.setState('closed');
  }

  private connect(): Promise<void> {
    this.setState('connecting');
    return new Promise<void>((resolve, reject) => {
      let port: SerialPort;
      try {
        port = new SerialPort({ path: this.path, ...this.settings, autoOpen: false });
      } catch (e) {
        this.failed(e);
        reject(new P1PortError(this.path, (e as Error).message, e));
        return;
      }
      port.on('error', (e) => this.log.warn({ err: e }, 'serial port error'));
      port.open((err) => {
        if (!this.started) {
          if (!err) port.close(() => undefined);
          reject(new P1ClosedError());
          return;
        }
        if (err) {
          this.failed(err);
          reject(new P1PortError(this.path, err.message, err));
          return;
        }
        this.port = port;
        this.failures = 0;
        this.counters.opens++;
        port.on('data', (chunk: Buffer) => {
          this.counters.bytes += chunk.length;
        });
        port.on('close', (e?: Error) => this.lost(port, e));
        port.pipe(this.parser, { end: false });
        this.log.info({ path: this.path, ...this.settings }, 'P1 port open');
        this.setState('up');
        resolve();
      });
    });
  }

  private failed(err: unknown): void {
    this.counters.openFailures++;
    this.log.warn({ err, path: this.path }, 'P1 port open failed');
    this.setState('down');
    this.scheduleRetry();
  }

  private lost(port: SerialPort, err?: Error): void {
    port.unpipe(this.parser);
    if (this.port !== port) return; // closed on purpose
    this.port = undefined;
    this.parser.reset();
    this.counters.disconnects++;
    this.log.warn({ err, path: this.path }, 'P1 port lost');
    this.setState('down');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (!this.started || this.retryTimer) return;
    const cap = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.started) this.connect().catch(() => undefined);
    }, delay);
  }

  private whenUp(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onState = (s: LinkState): void => {
        if (s === 'up' || s === 'closed') {
          this.off('state', onState);
          if (s === 'up') resolve();
          else reject(new P1ClosedError());
        }
      };
      this.on('state', onState);
    });
  }

  private deliver(t: P1Telegram): void {
    this.counters.lastTelegramAt = Date.now();
    try {
      this.emit('telegram', t);
    } catch (err) {
      this.log.error({ err }, "a 'telegram' listener threw");
    }
  }

  private setState(s: LinkState): void {
    if (s === this._state) return;
    this._state = s;
    try {
      this.emit('state', s);
    } catch (err) {
      this.log.error({ err }, "a 'state' listener threw");
    }
  }
}
