/**
 * MbapClient (gateway/links/mbap-client.ts) framing against an in-process
 * loopback peer that answers byte by byte, late, or with garbage. Behaviour
 * against a real independent Modbus server is test/integration/modbus-tcp.test.ts.
 */
import net from 'node:net';
import { MbapClient } from '../../gateway/links/mbap-client';

interface Peer {
  port: number;
  /** How the next request is answered: the reply bytes, written in the given chunk sizes. */
  reply: (req: Buffer) => { bytes: Buffer; chunks?: number } | null;
  close(): Promise<void>;
}

function startPeer(): Promise<Peer> {
  const peer = { port: 0, reply: (_req: Buffer) => null as { bytes: Buffer; chunks?: number } | null, close: async () => {} } as Peer;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (req) => {
      const r = peer.reply(req);
      if (!r) return;
      const step = r.chunks ?? r.bytes.length;
      for (let i = 0; i < r.bytes.length; i += step) s.write(r.bytes.subarray(i, i + step));
    });
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      peer.port = (server.address() as net.AddressInfo).port;
      peer.close = () =>
        new Promise<void>((done) => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        });
      resolve(peer);
    }),
  );
}

/** A register reply to request `req` (its transaction id and unit) with `words`. */
function registers(req: Buffer, words: number[], tid = req.readUInt16BE(0)): Buffer {
  const b = Buffer.alloc(9 + words.length * 2);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(3 + words.length * 2, 4);
  b[6] = req[6]!;
  b[7] = req[7]!;
  b[8] = words.length * 2;
  words.forEach((w, i) => b.writeUInt16BE(w, 9 + 2 * i));
  return b;
}

let peer: Peer;
let socket: net.Socket;
let client: MbapClient;

beforeEach(async () => {
  peer = await startPeer();
  socket = net.connect(peer.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  client = new MbapClient(socket);
  client.setTimeout(300);
});

afterEach(async () => {
  socket.destroy();
  await peer.close();
});

test('reads registers from a reply that arrives one byte at a time', async () => {
  peer.reply = (req) => ({ bytes: registers(req, [0x1234, 0xfffe, 7]), chunks: 1 });
  client.setID(5);
  const r = await client.readHoldingRegisters(10, 3);
  expect(Array.from(r.data)).toEqual([0x1234, 0xfffe, 7]);
});

test('a late reply to a timed-out request is dropped, not taken for the next one', async () => {
  let n = 0;
  let late: Buffer | null = null;
  peer.reply = (req) => {
    n += 1;
    if (n === 1) {
      late = registers(req, [111]); // answered only with the next request
      return null;
    }
    return { bytes: Buffer.concat([late!, registers(req, [222])]) };
  };
  await expect(client.readInputRegisters(0, 1)).rejects.toMatchObject({ errno: 'ETIMEDOUT' });
  expect(Array.from((await client.readInputRegisters(0, 1)).data)).toEqual([222]);
});

test('exceptions carry their code; bits unpack LSB first; writes confirm', async () => {
  peer.reply = (req) => {
    const fc = req[7]!;
    if (fc === 3) return { bytes: Buffer.from([req[0]!, req[1]!, 0, 0, 0, 3, req[6]!, 0x83, 2]) };
    if (fc === 1) return { bytes: Buffer.from([req[0]!, req[1]!, 0, 0, 0, 5, req[6]!, 1, 2, 0b00000101, 0b1]) };
    const echo = Buffer.from(req.subarray(0, 12)); // FC5/6/16: address and value/count echoed
    echo.writeUInt16BE(6, 4);
    return { bytes: echo };
  };
  await expect(client.readHoldingRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 2 });
  expect((await client.readCoils(0, 9)).data).toEqual([true, false, true, false, false, false, false, false, true]);
  await expect(client.writeRegisters(0, [1, 2])).resolves.toEqual({ data: null });
  await expect(client.writeCoil(3, true)).resolves.toEqual({ data: null });
});

test('bytes that are not MBAP fail the request in flight; the next request works', async () => {
  let n = 0;
  peer.reply = (req) => (++n === 1 ? { bytes: Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') } : { bytes: registers(req, [9]) });
  await expect(client.readHoldingRegisters(0, 1)).rejects.toMatchObject({ name: 'ModbusProtocolError' });
  expect(Array.from((await client.readHoldingRegisters(0, 1)).data)).toEqual([9]);
});

test('a closed socket fails the request in flight and refuses new ones', async () => {
  peer.reply = () => null;
  const pending = client.readHoldingRegisters(0, 1);
  socket.destroy();
  await expect(pending).rejects.toMatchObject({ name: 'PortNotOpenError' });
  await expect(client.readHoldingRegisters(0, 1)).rejects.toMatchObject({ name: 'PortNotOpenError' });
});
