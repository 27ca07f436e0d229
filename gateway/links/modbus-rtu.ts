/**
 * ModbusRtuLink: Modbus RTU on a serial line (RS-485/RS-232 adapter), over
 * serialport 13 and modbus-serial 8.
 *
 * The link owns its SerialPort (baudRate, parity, dataBits, stopBits) and
 * gives modbus-serial an RtuPort over it through `connectRTUSocket`, rather
 * than modbus-serial's `connectRTU` (parses each raw read chunk as a whole
 * frame: a reply split across reads fails) or `connectRTUBuffered` (keeps
 * stale bytes across requests, no inter-frame timing). The RtuPort
 *  - keeps the line quiet for the inter-frame gap t3.5 before every request:
 *    3.5 character times (1 start + data + parity + stop bits per character),
 *    a fixed 1.75 ms above 19200 baud (Modbus over serial line V1.02 §2.5.1.1);
 *  - reassembles and CRC-checks each reply, and drops and counts noise, stray
 *    late replies, bad CRCs and truncated replies (stats());
 *  - fails a broken reply's request once the line has been quiet for
 *    byteTimeoutMs, instead of waiting out the whole timeoutMs.
 * Per-request timeout = timeoutMs. One transaction queue per serial port
 * (busKey "serial:<path>"): every unit on the RS-485 bus shares it.
 * When the port goes away (USB adapter unplugged, pty closed) the link goes
 * 'down' and requests in flight fail with GW_ERR_LINK_DOWN; LinkSupervisor
 * reopens it. A reopen waits until the old port is fully closed (serialport
 * locks the device).
 */
import { SerialPort } from 'serialport';
import type ModbusRTU from 'modbus-serial';
import type { Logger } from '../base/log';
import { LinkDownError, LinkOptionsError } from './errors';
import { ModbusClientLink, type LinkStats } from './modbus-client-link';
import { RtuTransport } from './rtu-transport';

export type SerialParity = 'none' | 'even' | 'odd';

export interface ModbusRtuLinkOptions {
  id: string;
  /** Serial device, e.g. /dev/ttyUSB0. */
  path: string;
  /** Default 9600. */
  baudRate?: number;
  /** Default 'none'. */
  parity?: SerialParity;
  /** Default 8. */
  dataBits?: 7 | 8;
  /** Default 1. */
  stopBits?: 1 | 2;
  /** Per-request timeout, ms. Default 1000. */
  timeoutMs?: number;
  /** Quiet time before each request, ms. Default t3.5 of the framing; more for slow devices. */
  interFrameGapMs?: number;
  /**
   * Line silence after a partial or bad reply before it is judged, ms.
   * Default max(20, 2 × t3.5): USB adapters deliver a frame in chunks up to
   * their latency timer (16 ms on FTDI) apart.
   */
  byteTimeoutMs?: number;
}

/** Bits on the wire per character: start + data + parity + stop. */
export function serialCharBits(dataBits: 7 | 8, parity: SerialParity, stopBits: 1 | 2): number {
  return 1 + dataBits + (parity === 'none' ? 0 : 1) + stopBits;
}

/** RTU inter-frame gap t3.5 in ms: 3.5 character times, fixed 1.75 ms above 19200 baud. */
export function rtuInterFrameGapMs(baudRate: number, charBits: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * charBits * 1000) / baudRate;
}

export class ModbusRtuLink extends ModbusClientLink {
  readonly path: string;
  readonly baudRate: number;
  readonly parity: SerialParity;
  readonly dataBits: 7 | 8;
  readonly stopBits: 1 | 2;
  /** Quiet time kept before every request, ms (t3.5). */
  readonly interFrameGapMs: number;
  readonly byteTimeoutMs: number;
  private readonly rtu: RtuTransport;
  private port: SerialPort | null = null;
  /** Settles when the last port is closed (a reopen waits for it: the device is locked while open). */
  private portClosed: Promise<void> = Promise.resolve();

  constructor(opts: ModbusRtuLinkOptions, logger: Logger) {
    super({ id: opts.id, busKey: `serial:${opts.path}`, timeoutMs: opts.timeoutMs }, logger);
    const bad = (detail: string) => new LinkOptionsError(opts.id, detail);
    if (typeof opts.path !== 'string' || opts.path === '') throw bad('path must be a non-empty string');
    this.baudRate = opts.baudRate ?? 9600;
    if (!Number.isInteger(this.baudRate) || this.baudRate <= 0) throw bad(`baudRate must be a positive integer, got ${this.baudRate}`);
    this.parity = opts.parity ?? 'none';
    if (!['none', 'even', 'odd'].includes(this.parity)) throw bad(`parity must be none|even|odd, got ${String(this.parity)}`);
    this.dataBits = opts.dataBits ?? 8;
    if (this.dataBits !== 7 && this.dataBits !== 8) throw bad(`dataBits must be 7 or 8, got ${String(this.dataBits)}`);
    this.stopBits = opts.stopBits ?? 1;
    if (this.stopBits !== 1 && this.stopBits !== 2) throw bad(`stopBits must be 1 or 2, got ${String(this.stopBits)}`);
    if (!(this.timeoutMs > 0)) throw bad(`timeoutMs must be > 0, got ${this.timeoutMs}`);
    if (opts.interFrameGapMs !== undefined && !(opts.interFrameGapMs >= 0)) {
      throw bad(`interFrameGapMs must be >= 0, got ${opts.interFrameGapMs}`);
    }
    this.path = opts.path;
    const charBits = serialCharBits(this.dataBits, this.parity, this.stopBits);
    const charMs = (charBits * 1000) / this.baudRate;
    this.interFrameGapMs = opts.interFrameGapMs ?? rtuInterFrameGapMs(this.baudRate, charBits);
    this.byteTimeoutMs = opts.byteTimeoutMs ?? Math.max(20, Math.ceil(2 * this.interFrameGapMs));
    this.rtu = new RtuTransport(this.id, { interFrameGapMs: this.interFrameGapMs, byteTimeoutMs: this.byteTimeoutMs, charMs }, (err) =>
      this.failInFlight(err),
    );
  }

  /** "9600 8N1" */
  get framing(): string {
    return `${this.baudRate} ${this.dataBits}${this.parity[0].toUpperCase()}${this.stopBits}`;
  }

  protected get endpoint(): string {
    return `${this.path} (${this.framing})`;
  }

  protected async attach(): Promise<ModbusRTU> {
    await this.portClosed;
    const port = new SerialPort({
      path: this.path,
      baudRate: this.baudRate,
      dataBits: this.dataBits,
      parity: this.parity,
      stopBits: this.stopBits,
      autoOpen: false,
    });
    let lastError = '';
    port.on('error', (e: Error) => {
      lastError = e.message; // never unhandled: a lost port also emits 'close'
    });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    if (!this.connecting) {
      await closePort(port);
      throw new LinkDownError(this.id, 'closed while connecting');
    }
    const lost = (err?: Error | null) => {
      if (this.port !== port) return;
      const why = err?.message || lastError;
      this.transportLost(why ? `serial port lost: ${why}` : 'serial port closed');
    };
    port.once('close', lost);
    port.once('end', () => lost(new Error('end of stream'))); // a read of 0 bytes (EOF) ends the stream without closing it
    let client: ModbusRTU;
    try {
      client = await this.rtu.link(port);
    } catch (e) {
      await closePort(port);
      throw e;
    }
    this.port = port;
    return client;
  }

  protected dropTransport(): Promise<void> {
    this.rtu.retire();
    const port = this.port;
    this.port = null;
    if (!port) return this.portClosed;
    this.portClosed = closePort(port);
    return this.portClosed;
  }

  protected override framingStats(): Pick<LinkStats, 'crcErrors' | 'truncatedFrames' | 'strayFrames' | 'noiseBytes'> {
    return this.rtu.stats();
  }

  protected override explainTimeout(ctx: string): Error | null {
    return this.rtu.settle(ctx);
  }
}

/** Close a port if it is open (or wait for a close under way); never rejects. */
function closePort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (port.closing) {
      port.once('close', () => resolve());
      return;
    }
    if (!port.isOpen) return resolve();
    port.close(() => resolve());
  });
}
