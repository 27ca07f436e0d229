/**
 * ModbusTcpLink: the ModbusLink facade over modbus-serial 8 for Modbus TCP.
 *
 * The link owns its socket (TcpClientLink connects it) and hands it to
 * modbus-serial's `linkTCP(socket)` — the same TcpPort that `connectTCP`
 * builds, but the link sees the socket's own 'close'/'error' events. State,
 * request checks, error mapping and counters are shared with the RTU links
 * (modbus-client-link.ts).
 */
import type net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { TcpClientLink, type TcpClientLinkOptions } from './tcp-client-link';

export type ModbusTcpLinkOptions = TcpClientLinkOptions;
export { DEFAULT_LINK_TIMEOUT_MS, type LinkStats } from './modbus-client-link';

export class ModbusTcpLink extends TcpClientLink {
  protected async linkClient(socket: net.Socket): Promise<ModbusRTU> {
    const client = new ModbusRTU();
    client.on('error', () => {}); // port errors surface as failed requests and 'close'; never crash the daemon
    await client.linkTCP(socket, { port: this.port });
    return client;
  }
}
