/**
 * RtuTransport: the RTU half shared by modbus-rtu and rtu-over-tcp. Per
 * connection it wraps the link's byte stream in an RtuPort and puts a
 * modbus-serial client on it (`connectRTUSocket`, the documented way to give
 * modbus-serial an already-open stream); across connections it keeps the
 * framing counters. Broken replies become GW_ERR_MODBUS_PROTOCOL errors of the
 * request in flight.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import ModbusRTU from 'modbus-serial';
import { ModbusProtocolError } from './errors';
import type { RtuExpectation, RtuFault, RtuFramerStats } from './rtu-framer';
import { RtuPort } from './rtu-port';

export interface RtuTiming {
  /** Quiet time before each request, ms. */
  interFrameGapMs: number;
  /** Line silence that ends a reply, ms. */
  byteTimeoutMs: number;
  /** Time of one character on the wire, ms (0 when unknown, e.g. behind a converter). */
  charMs: number;
}

export type RtuFramingStats = Pick<RtuFramerStats, 'crcErrors' | 'truncatedFrames' | 'strayFrames' | 'noiseBytes'>;

const FAULT_TEXT: Record<RtuFault, string> = {
  crc: 'reply dropped: bad CRC',
  truncated: 'reply dropped: truncated frame',
};

export class RtuTransport {
  private port: RtuPort | null = null;
  private readonly past: RtuFramingStats = { crcErrors: 0, truncatedFrames: 0, strayFrames: 0, noiseBytes: 0 };

  constructor(
    private readonly linkId: string,
    private readonly timing: RtuTiming,
    /** A reply arrived broken: fail the request in flight with this error. */
    private readonly onBrokenReply: (err: ModbusProtocolError) => void,
  ) {}

  /** Wrap an open byte stream; resolves with a modbus-serial client that talks RTU over it. */
  async link(wire: Duplex): Promise<ModbusRTU> {
    this.retire();
    const port = new RtuPort(wire, {
      ...this.timing,
      onFault: (fault, expected) => this.onBrokenReply(this.faultError(fault, expected)),
    });
    const client = new ModbusRTU();
    client.on('error', () => {}); // wire errors surface as failed requests and a lost transport
    // connectRTUSocket only needs a port-like object (write/isOpen/close and 'data'/'close' events)
    await client.connectRTUSocket(port as unknown as net.Socket);
    this.port = port;
    return client;
  }

  /** Stop using the current stream (it was lost or is being closed). */
  retire(): void {
    const port = this.port;
    this.port = null;
    if (!port) return;
    port.detach();
    for (const k of Object.keys(this.past) as Array<keyof RtuFramingStats>) this.past[k] += port.stats[k];
  }

  /** A request timed out: the protocol error if a broken reply was on the line, else null. */
  settle(ctx?: string): ModbusProtocolError | null {
    const judged = this.port?.settle();
    return judged ? this.faultError(judged.fault, judged.expected, ctx) : null;
  }

  stats(): RtuFramingStats {
    const now = this.port?.stats;
    return {
      crcErrors: this.past.crcErrors + (now?.crcErrors ?? 0),
      truncatedFrames: this.past.truncatedFrames + (now?.truncatedFrames ?? 0),
      strayFrames: this.past.strayFrames + (now?.strayFrames ?? 0),
      noiseBytes: this.past.noiseBytes + (now?.noiseBytes ?? 0),
    };
  }

  private faultError(fault: RtuFault, e: RtuExpectation, ctx?: string): ModbusProtocolError {
    return new ModbusProtocolError(ctx ?? `link ${this.linkId}: fc ${e.fc} unit ${e.unit}`, FAULT_TEXT[fault]);
  }
}
