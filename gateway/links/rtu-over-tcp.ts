/**
 * RtuOverTcpLink: Modbus RTU frames (address, PDU, CRC; no MBAP header)
 * carried over a TCP connection to a serial-to-Ethernet converter (Moxa NPort
 * in "TCP server" mode, USR-TCP232, Waveshare …).
 *
 * modbus-serial offers `connectTelnet`/`linkTelnet` and `connectTcpRTUBuffered`
 * for this; both scan one ever-growing buffer for "unit id + function code",
 * keep stale bytes across requests and never give up on a partial frame, so a
 * single late or garbled reply poisons the following requests. Instead the
 * link owns the socket (TcpClientLink: connect timeout, loss detection) and
 * gives modbus-serial an RtuPort over it through `connectRTUSocket`: replies
 * are reassembled, CRC-checked and matched to the request; garbage is dropped
 * and counted in stats(). The converter does the serial timing, so no
 * inter-frame gap is added here. One transaction queue per converter
 * (busKey "tcp:host:port"), like Modbus TCP.
 */
import type net from 'node:net';
import type ModbusRTU from 'modbus-serial';
import type { Logger } from '../base/log';
import type { LinkStats } from './modbus-client-link';
import { RtuTransport } from './rtu-transport';
import { TcpClientLink, type TcpClientLinkOptions } from './tcp-client-link';

export interface RtuOverTcpLinkOptions extends TcpClientLinkOptions {
  /** Silence after a partial or bad reply before it is judged, ms (default 50: converters pack by idle time). */
  byteTimeoutMs?: number;
}

export const DEFAULT_CONVERTER_BYTE_TIMEOUT_MS = 50;

export class RtuOverTcpLink extends TcpClientLink {
  private readonly rtu: RtuTransport;

  constructor(opts: RtuOverTcpLinkOptions, logger: Logger) {
    super(opts, logger);
    const byteTimeoutMs = opts.byteTimeoutMs ?? DEFAULT_CONVERTER_BYTE_TIMEOUT_MS;
    this.rtu = new RtuTransport(this.id, { interFrameGapMs: 0, byteTimeoutMs, charMs: 0 }, (err) => this.failInFlight(err));
  }

  protected linkClient(socket: net.Socket): Promise<ModbusRTU> {
    return this.rtu.link(socket);
  }

  protected override dropTransport(): Promise<void> {
    this.rtu.retire();
    return super.dropTransport();
  }

  protected override framingStats(): Pick<LinkStats, 'crcErrors' | 'truncatedFrames' | 'strayFrames' | 'noiseBytes'> {
    return this.rtu.stats();
  }

  protected override explainTimeout(ctx: string): Error | null {
    return this.rtu.settle(ctx);
  }
}
