/**
 * ModbusTcpLink: the ModbusLink facade for Modbus TCP.
 *
 * The link owns its socket (TcpClientLink connects it) and puts the lean
 * MbapClient (mbap-client.ts) on it: MBAP framing, transaction ids, timeouts
 * and the error shapes the shared link code maps. State, request checks,
 * error mapping and counters are shared with the RTU links
 * (modbus-client-link.ts), which keep modbus-serial's RTU client.
 */
import type net from 'node:net';
import { MbapClient } from './mbap-client';
import type { ModbusClient } from './modbus-client-link';
import { TcpClientLink, type TcpClientLinkOptions } from './tcp-client-link';

export type ModbusTcpLinkOptions = TcpClientLinkOptions;
export { DEFAULT_LINK_TIMEOUT_MS, type LinkStats } from './modbus-client-link';

export class ModbusTcpLink extends TcpClientLink {
  protected linkClient(socket: net.Socket): Promise<ModbusClient> {
    return Promise.resolve(new MbapClient(socket));
  }
}
