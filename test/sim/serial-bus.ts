/**
 * A simulated RS-485 bus for RTU wire tests: socat joins two ptys; the
 * pymodbus RTU peer (modbus_server.py with `serial`) serves end A, the link
 * under test opens end B (`bus.path`). stop() kills the peer and socat (the
 * device path disappears, like an unplugged adapter); start() brings both back
 * under the same path.
 *
 *   const bus = await startSerialBus({ units: { 1: { holding: { 0: [1, 2] } } } }, { baudrate: 9600 });
 *   const link = new ModbusRtuLink({ id: 'rs485', path: bus.path, baudRate: 9600 }, logger);
 *   await bus.peer.fault('crc');
 *   await bus.dispose();
 */
import { startModbusPeer, type ModbusPeer, type PeerSerialSpec, type PeerSpec } from './modbus-peer';
import { startPtyPair, type PtyPair } from './p1-writer';

export interface SerialBus {
  /** The device the link opens. */
  readonly path: string;
  /** The running peer (replaced by start()). */
  readonly peer: ModbusPeer;
  readonly running: boolean;
  /** Kill the peer and the pty pair. */
  stop(): Promise<void>;
  /** (Re)start the pty pair and the peer; `spec` replaces the peer's spec if given. */
  start(spec?: PeerSpec): Promise<void>;
  /** stop() and remove the pty folder. */
  dispose(): Promise<void>;
}

export async function startSerialBus(spec: PeerSpec, serial: Omit<PeerSerialSpec, 'port'> = {}): Promise<SerialBus> {
  const pair: PtyPair = await startPtyPair();
  let current: PeerSpec = spec;
  let peer: ModbusPeer | null = null;
  const startPeer = async () => {
    peer = await startModbusPeer({ ...current, serial: { ...serial, port: pair.a } });
  };
  try {
    await startPeer();
  } catch (e) {
    await pair.dispose();
    throw e;
  }
  const stop = async () => {
    const p = peer;
    peer = null;
    await p?.stop();
    await pair.stop();
  };
  return {
    path: pair.b,
    get peer() {
      if (!peer) throw new Error('serial bus is stopped');
      return peer;
    },
    get running() {
      return peer !== null;
    },
    stop,
    async start(next?: PeerSpec) {
      if (next) current = next;
      if (peer) return;
      await pair.start();
      await startPeer();
    },
    async dispose() {
      await stop();
      await pair.dispose();
    },
  };
}
