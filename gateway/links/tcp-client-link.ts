/**
 * TcpClientLink: a Modbus link over a TCP connection the link owns
 * (modbus-tcp, rtu-over-tcp).
 *
 * attach() connects a net.Socket itself (connect timeout = timeoutMs) and
 * hands it to the link type's `linkClient(socket)`, which puts a Modbus client
 * on it (the lean MbapClient for modbus-tcp, modbus-serial's RTU client for rtu-over-tcp). Owning the socket means the link sees its own 'close' and
 * 'error' events: modbus-serial's TcpPort does not re-emit 'close' after a
 * socket 'error' (e.g. ECONNRESET when a device or converter reboots), so
 * listening on the client is not enough.
 */
import net from 'node:net';
import type { Logger } from '../base/log';
import { LinkDownError } from './errors';
import { ModbusClientLink, type ModbusClient } from './modbus-client-link';

export interface TcpClientLinkOptions {
  id: string;
  host: string;
  port: number;
  /** Per-request (and connect) timeout, ms. Default 1000. */
  timeoutMs?: number;
}

/** Connect a TCP socket, failing after `timeoutMs`. */
export function connectSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const socket = new net.Socket();
  return new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.once('error', onError);
    socket.connect({ host, port }, () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}

export abstract class TcpClientLink extends ModbusClientLink {
  readonly host: string;
  readonly port: number;
  private socket: net.Socket | null = null;

  constructor(opts: TcpClientLinkOptions, logger: Logger) {
    super({ id: opts.id, busKey: `tcp:${opts.host}:${opts.port}`, timeoutMs: opts.timeoutMs }, logger);
    this.host = opts.host;
    this.port = opts.port;
  }

  protected get endpoint(): string {
    return `${this.host}:${this.port}`;
  }

  /** Put a modbus-serial client on the connected socket. */
  protected abstract linkClient(socket: net.Socket): Promise<ModbusClient>;

  protected async attach(): Promise<ModbusClient> {
    const socket = await connectSocket(this.host, this.port, this.timeoutMs);
    if (!this.connecting) {
      socket.destroy(); // closed while connecting
      throw new LinkDownError(this.id, 'closed while connecting');
    }
    socket.setKeepAlive(true, 10_000);
    // modbus-serial handles socket errors too; this listener records why it closed
    let lastError = '';
    socket.on('error', (e) => {
      lastError = e.message;
    });
    let closedEarly = false;
    socket.once('close', () => {
      if (this.socket === socket) this.transportLost(lastError ? `connection lost: ${lastError}` : 'connection closed by peer');
      else closedEarly = true;
    });
    let client: ModbusClient;
    try {
      client = await this.linkClient(socket);
    } catch (e) {
      socket.destroy();
      throw e;
    }
    if (closedEarly || !this.connecting) {
      socket.destroy();
      throw new LinkDownError(this.id, closedEarly ? 'connection closed while connecting' : 'closed while connecting');
    }
    this.socket = socket;
    return client;
  }

  protected dropTransport(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return Promise.resolve();
    const closed = socket.closed ? Promise.resolve() : new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (!socket.destroyed) socket.destroy();
    return closed;
  }
}
