/**
 * RtuPort: the "port" a modbus-serial client talks RTU through, over a byte
 * stream the link owns (a SerialPort, or a TCP socket to a serial-to-Ethernet
 * converter). modbus-serial's `connectRTUSocket(port)` takes any object with
 * `write(buffer)`, `isOpen`, `close(cb)` and 'data'/'close' events, and parses
 * each 'data' buffer as exactly one reply frame; this port makes sure that is
 * true, which modbus-serial's own ports do not (`connectRTU` hands over raw
 * read chunks; the buffered/telnet ports keep stale bytes across requests and
 * never time a frame out):
 *  - every request re-arms an RtuFramer with the reply it asks for, so split
 *    reads are reassembled, and noise, stray late replies, bad CRCs and
 *    truncated replies are dropped and counted instead of being parsed;
 *  - a broken reply is reported at once through `onFault` once the line has
 *    been quiet for `byteTimeoutMs`, so the request fails without waiting out
 *    its full timeout;
 *  - a request is sent only after the line has been quiet for
 *    `interFrameGapMs` (RTU t3.5) since the last byte seen or sent.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { RtuFramer, expectationFor, type RtuExpectation, type RtuFault, type RtuFramerStats } from './rtu-framer';

export interface RtuPortOptions {
  /** Quiet time before each request, ms (serial: t3.5; a converter does its own timing: 0). */
  interFrameGapMs: number;
  /** Line silence that ends a reply: what is buffered then is judged. */
  byteTimeoutMs: number;
  /** Time to put one character on the wire, ms (0 over TCP): a sent request keeps the line busy that long. */
  charMs: number;
  /** A reply arrived broken; the request in flight has failed. */
  onFault: (fault: RtuFault, expected: RtuExpectation) => void;
}

export class RtuPort extends EventEmitter {
  /** modbus-serial reads this before every request. */
  isOpen = true;
  private readonly wire: Duplex;
  private readonly opts: RtuPortOptions;
  private readonly framer = new RtuFramer();
  private lineBusyUntil = Number.NEGATIVE_INFINITY;
  private silenceTimer: NodeJS.Timeout | null = null;
  private sendTimer: NodeJS.Timeout | null = null;
  private readonly onWireData = (chunk: Buffer) => this.received(chunk);

  constructor(wire: Duplex, opts: RtuPortOptions) {
    super();
    this.wire = wire;
    this.opts = opts;
    this.framer.on('data', (frame: Buffer) => this.emit('data', frame));
    wire.on('data', this.onWireData);
  }

  get stats(): Readonly<RtuFramerStats> {
    return this.framer.stats;
  }

  /** modbus-serial: send one request frame. */
  write(data: Buffer): void {
    if (!this.isOpen) return;
    this.clearSilence();
    this.framer.expect(expectationFor(data));
    const wait = this.lineBusyUntil + this.opts.interFrameGapMs - performance.now();
    if (wait > 0) {
      this.sendTimer = setTimeout(() => {
        this.sendTimer = null;
        this.send(data);
      }, Math.ceil(wait));
    } else {
      this.send(data);
    }
  }

  /**
   * The request in flight ended without a reply (timed out): judge what
   * arrived so far. Returns the fault if a broken reply was buffered.
   */
  settle(): { fault: RtuFault; expected: RtuExpectation } | null {
    this.clearSilence();
    const expected = this.framer.expectation;
    const fault = this.framer.judge();
    this.framer.expect(null);
    return fault && expected ? { fault, expected } : null;
  }

  /** modbus-serial: close. The link owns the wire and closes it itself. */
  close(callback?: (err?: Error | null) => void): void {
    this.detach();
    callback?.(null);
  }

  /** Stop using the wire (the link closes it). */
  detach(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.wire.removeListener('data', this.onWireData);
    this.clearSilence();
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = null;
    this.framer.expect(null);
    this.emit('close');
  }

  private send(data: Buffer): void {
    if (!this.isOpen || this.wire.destroyed) return;
    this.lineBusyUntil = performance.now() + data.length * this.opts.charMs;
    this.wire.write(data);
  }

  private received(chunk: Buffer): void {
    this.lineBusyUntil = performance.now();
    this.framer.write(chunk);
    this.clearSilence();
    if (this.framer.pending > 0) {
      this.silenceTimer = setTimeout(() => {
        this.silenceTimer = null;
        const expected = this.framer.expectation;
        const fault = this.framer.judge();
        if (fault && expected) this.opts.onFault(fault, expected);
      }, this.opts.byteTimeoutMs);
    }
  }

  private clearSilence(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = null;
  }
}
