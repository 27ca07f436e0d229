/**
 * Modbus TCP against a real, independent peer (pymodbus 3.0, test/sim/modbus_server.py):
 * the link, decoding, the planner's split-and-learn, writes with read-back, and
 * device health (quarantine, offline, resume after the server restarts).
 */
import net from 'node:net';
import { decodePoint } from '../../gateway/devices/decode';
import { errorCodesOf } from '../../gateway/base/error-codes';
import type { LinkState } from '../../gateway/links/link';
import { ModbusTcpLink } from '../../gateway/links/modbus-tcp';
import { silentLogger } from '../../gateway/base/log';
import { BusQueues } from '../../gateway/poll/bus-queue';
import { DevicePoller, type DeviceState, type DeviceStateChange, type PolledDevice } from '../../gateway/poll/device-poller';
import { LinkSupervisors } from '../../gateway/poll/link-supervisor';
import { startModbusPeer, type ModbusPeer, type PeerSpec } from '../sim/modbus-peer';
import { nextEvent, pt, untilReadings, untilState, valueOf } from '../sim/poll-events';

const LINK_ERROR_CODES = errorCodesOf('links');

jest.setTimeout(60_000);
const logger = silentLogger();
/** The test's own registries, as the FieldBus keeps its own. */
const queues = new BusQueues();
const supervisors = new LinkSupervisors();

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const SPEC_A: PeerSpec = {
  units: {
    1: {
      size: 200,
      holding: { 0: [0x1234, 0x5678, 7, 8], 10: [0x5678, 0x1234], 30: [5] },
      input: { 10: [0xfffe], 20: [0x42f6, 0xe979] },
      coil: { 0: [false, true, true] },
      discrete: { 0: [true, false, true] },
    },
    3: { sparse: true, holding: { 0: [11], 5: [22, 23] } },
  },
  deadUnits: [9],
  evolutions: [
    { unit: 1, area: 'holding', address: 50, type: 'uint32', step: 7, everyMs: 20 },
    { unit: 1, area: 'holding', address: 60, type: 'uint16', step: 20_000, everyMs: 20 },
  ],
};
const SPEC_B: PeerSpec = { units: { 1: { holding: { 0: [42] } } } };

let peerA: ModbusPeer;
let peerB: ModbusPeer | null;
const links: ModbusTcpLink[] = [];
const pollers: DevicePoller[] = [];

function newLink(id: string, port: number, timeoutMs = 300): ModbusTcpLink {
  const link = new ModbusTcpLink({ id, host: '127.0.0.1', port, timeoutMs }, logger);
  links.push(link);
  return link;
}

function newPoller(link: ModbusTcpLink, device: PolledDevice): DevicePoller {
  // fast reconnects for the test; the first .for() call fixes a link's supervisor options
  const supervisor = supervisors.for(link, { logger, baseMs: 50, capMs: 250 });
  const poller = new DevicePoller({
    device,
    link,
    queue: queues.for(link.busKey),
    logger,
    supervisor,
    backoffCapMs: 250,
  });
  pollers.push(poller);
  return poller;
}

beforeAll(async () => {
  [peerA, peerB] = await Promise.all([startModbusPeer(SPEC_A), startModbusPeer(SPEC_B)]);
});

afterAll(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  await Promise.all(links.map((l) => l.close()));
  await Promise.all([peerA?.stop(), peerB?.stop()]);
  for (const l of links) queues.release(l.busKey);
});

test('link error codes are unique', () => {
  expect(new Set(LINK_ERROR_CODES).size).toBe(LINK_ERROR_CODES.length);
});

describe('ModbusTcpLink', () => {
  let link: ModbusTcpLink;
  const states: LinkState[] = [];

  beforeAll(async () => {
    link = newLink('plant', peerA.port);
    link.on('state', (s: LinkState) => states.push(s));
    expect(link.state).toBe('closed');
    await link.open();
  });

  test('opens and reports its state and bus', () => {
    expect(link.state).toBe('up');
    expect(states).toEqual(['connecting', 'up']);
    expect(link.busKey).toBe(`tcp:127.0.0.1:${peerA.port}`);
  });

  test('reads every area with 0-based addresses', async () => {
    expect(Array.from(await link.readRegisters(1, 'holding', 0, 4))).toEqual([0x1234, 0x5678, 7, 8]);
    expect(Array.from(await link.readRegisters(1, 'input', 10, 1))).toEqual([0xfffe]);
    expect(await link.readBits(1, 'coil', 0, 3)).toEqual([false, true, true]);
    expect(await link.readBits(1, 'discrete', 0, 3)).toEqual([true, false, true]);
    expect(await link.readBits(1, 'coil', 0, 11)).toHaveLength(11);
  });

  test('decodes uint32 CDAB, int16 and float32 from the wire', async () => {
    const cdab = pt('flow', { type: 'uint32', wordOrder: 'CDAB', address: 10 });
    expect(decodePoint(cdab, await link.readRegisters(1, 'holding', 10, 2)).raw).toBe(0x12345678n);
    const abcd = pt('flow2', { type: 'uint32', address: 0 });
    expect(decodePoint(abcd, await link.readRegisters(1, 'holding', 0, 2)).value).toBe('305419896');
    const temp = pt('temp', { area: 'input', type: 'int16', scale: '0.1', address: 10 });
    expect(decodePoint(temp, await link.readRegisters(1, 'input', 10, 1)).value).toBe('-0.2');
    const f = pt('f', { area: 'input', type: 'float32', address: 20 });
    expect(decodePoint(f, await link.readRegisters(1, 'input', 20, 2)).value).toBe('123.456');
  });

  test('writes registers (FC6 and FC16) and coils', async () => {
    await link.writeRegisters(1, 100, [4321]);
    await link.writeRegisters(1, 101, [1, 2, 65535]);
    await link.writeCoil(1, 5, true);
    expect(await peerA.get('holding', 100, 4)).toEqual([4321, 1, 2, 65535]);
    expect(await peerA.get('coil', 5, 1)).toEqual([1]);
    expect(Array.from(await link.readRegisters(1, 'holding', 100, 4))).toEqual([4321, 1, 2, 65535]);
  });

  test('maps modbus exceptions to coded errors', async () => {
    await expect(link.readRegisters(1, 'holding', 195, 10)).rejects.toMatchObject({
      code: 'GW_ERR_MODBUS_EXCEPTION',
      exceptionCode: 2,
    });
    await expect(link.readRegisters(9, 'holding', 0, 1)).rejects.toMatchObject({
      code: 'GW_ERR_MODBUS_EXCEPTION',
      exceptionCode: 11,
    });
    // the connection survives exceptions
    expect(Array.from(await link.readRegisters(1, 'holding', 2, 2))).toEqual([7, 8]);
  });

  test('rejects requests Modbus cannot carry', async () => {
    const refused = { code: 'GW_ERR_MODBUS_REQUEST' };
    await expect(link.readRegisters(1, 'holding', 0, 126)).rejects.toMatchObject(refused);
    await expect(link.readBits(1, 'coil', 65535, 2)).rejects.toMatchObject(refused);
    await expect(link.writeRegisters(300, 0, [1])).rejects.toMatchObject(refused);
    await expect(link.writeRegisters(1, 0, [70000])).rejects.toMatchObject(refused);
    await expect(link.writeCoil(1, -1, true)).rejects.toMatchObject(refused);
  });

  test('a unit that never answers times out', async () => {
    const quiet = newLink('quiet', peerA.port, 200);
    await quiet.open();
    await expect(quiet.readRegisters(7, 'holding', 0, 1)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_TIMEOUT' });
    // the connection stays usable after a timeout
    expect(Array.from(await quiet.readRegisters(1, 'holding', 2, 1))).toEqual([7]);
    await quiet.close();
    expect(quiet.state).toBe('closed');
  });

  test('a dropped connection makes the link down; requests fail fast with GW_ERR_LINK_DOWN', async () => {
    const own = newLink('drop', peerA.port);
    await own.open();
    await own.readRegisters(1, 'holding', 0, 1); // the peer has surely accepted the connection
    const down = nextEvent<LinkState>(own, 'state', (s) => s === 'down');
    expect(await peerA.drop()).toBeGreaterThanOrEqual(1);
    await down;
    expect(own.state).toBe('down');
    await expect(own.readRegisters(1, 'holding', 0, 1)).rejects.toMatchObject({ code: 'GW_ERR_LINK_DOWN' });
    await own.open(); // reopen works on the same object
    expect(Array.from(await own.readRegisters(1, 'holding', 2, 1))).toEqual([7]);
    await own.close();
  });

  test('connect refused is GW_ERR_LINK_DOWN and state down', async () => {
    const dead = newLink('dead', await closedPort());
    await expect(dead.open()).rejects.toMatchObject({ code: 'GW_ERR_LINK_DOWN' });
    expect(dead.state).toBe('down');
  });
});

describe('DevicePoller', () => {
  test('polls every area, decodes, meters counters', async () => {
    const link = newLink('plant-poll', peerA.port);
    const poller = newPoller(link, {
      id: 'purifier-1',
      unitId: 1,
      pollMs: 50,
      points: [
        pt('water', { kind: 'counter', type: 'uint32', address: 50, unit: 'L' }),
        pt('wrapping', { kind: 'counter', type: 'uint16', address: 60 }),
        pt('flow', { type: 'uint32', wordOrder: 'CDAB', address: 10 }),
        pt('hardness', { area: 'input', type: 'int16', scale: '0.1', address: 10 }),
        pt('ph', { area: 'input', type: 'float32', address: 20 }),
        pt('valve', { area: 'coil', type: 'bool', address: 1 }),
        pt('door', { area: 'discrete', type: 'bool', address: 2 }),
      ],
    });
    poller.start();
    const first = await untilReadings(poller);
    await untilState(poller, 'ok');
    expect(first.device).toBe('purifier-1');
    expect(first.failed).toEqual([]);
    expect(valueOf(first, 'flow')?.value).toBe('305419896');
    expect(valueOf(first, 'hardness')?.value).toBe('-0.2');
    expect(valueOf(first, 'ph')?.value).toBe('123.456');
    expect(valueOf(first, 'valve')?.value).toBe(true);
    expect(valueOf(first, 'door')?.value).toBe(true);
    // the scripted counters move: uint32 climbs, uint16 wraps (counterRaw stays unsigned 16-bit)
    const water0 = valueOf(first, 'water')?.counterRaw as bigint;
    const later = await untilReadings(poller, (r) => (valueOf(r, 'water')?.counterRaw as bigint) > water0 + 7n);
    expect(later.tsMs).toBeGreaterThan(first.tsMs);
    const wraps = valueOf(later, 'wrapping')?.counterRaw as bigint;
    expect(wraps).toBeGreaterThanOrEqual(0n);
    expect(wraps).toBeLessThan(65536n);
    // gap fill merges 50..51 and 60 (8 unused registers); 11..19 (9) is too far
    expect(poller.plan.map((r) => `${r.area}:${r.address}+${r.count}`)).toEqual([
      'holding:10+2',
      'holding:50+11',
      'input:10+1',
      'input:20+2',
      'coil:1+1',
      'discrete:2+1',
    ]);
  });

  test('writes are confirmed by read-back', async () => {
    const link = newLink('plant-write', peerA.port);
    const poller = newPoller(link, {
      id: 'purifier-w',
      unitId: 1,
      pollMs: 50,
      points: [
        pt('cycle', { kind: 'setpoint', type: 'uint16', address: 30, writable: true }),
        pt('temp-set', { kind: 'setpoint', type: 'int16', scale: '0.1', address: 31, writable: true }),
        pt('limit', { kind: 'setpoint', type: 'float32', wordOrder: 'CDAB', address: 32, writable: true }),
        pt('valve', { kind: 'switch', area: 'coil', type: 'bool', address: 0, writable: true }),
        pt('hardness', { area: 'input', type: 'int16', address: 10, writable: true }),
        pt('flow', { type: 'uint32', address: 10 }),
      ],
    });
    poller.start();
    await untilState(poller, 'ok');
    await expect(poller.write('cycle', 1234)).resolves.toEqual({ value: '1234' });
    expect(await peerA.get('holding', 30, 1)).toEqual([1234]);
    await expect(poller.write('temp-set', '-12.5')).resolves.toEqual({ value: '-12.5' });
    expect(await peerA.get('holding', 31, 1)).toEqual([0xff83]);
    await expect(poller.write('limit', '123.456')).resolves.toEqual({ value: '123.456' });
    expect(await peerA.get('holding', 32, 2)).toEqual([0xe979, 0x42f6]);
    await expect(poller.write('valve', true)).resolves.toEqual({ value: true });
    expect(await peerA.get('coil', 0, 1)).toEqual([1]);
    await expect(poller.write('valve', 'off')).resolves.toEqual({ value: false });
    expect(await peerA.get('coil', 0, 1)).toEqual([0]);
    // the next poll sees the written value
    const r = await untilReadings(poller, (x) => valueOf(x, 'cycle')?.value === '1234');
    expect(valueOf(r, 'temp-set')?.value).toBe('-12.5');

    await expect(poller.write('cycle', 70000)).rejects.toMatchObject({ code: 'GW_ERR_ENCODE_RANGE' });
    await expect(poller.write('temp-set', '1.25')).rejects.toMatchObject({ code: 'GW_ERR_ENCODE_INEXACT' });
    await expect(poller.write('flow', 1)).rejects.toMatchObject({ code: 'GW_ERR_POLL_NOT_WRITABLE' });
    await expect(poller.write('hardness', 1)).rejects.toMatchObject({ code: 'GW_ERR_POLL_NOT_WRITABLE' });
    await expect(poller.write('nope', 1)).rejects.toMatchObject({ code: 'GW_ERR_POINT_NOT_FOUND' });
  });

  test('a merged read refused with exception 02 is split and the limit learned', async () => {
    const link = newLink('plant-sparse', peerA.port);
    const poller = newPoller(link, {
      id: 'sparse-3',
      unitId: 3,
      pollMs: 50,
      points: [pt('a', { address: 0 }), pt('b', { address: 5 }), pt('c', { address: 6 })],
    });
    expect(poller.plan.map((r) => [r.address, r.count])).toEqual([[0, 7]]);
    poller.start();
    const r = await untilReadings(poller);
    expect(r.failed).toEqual([]);
    expect(['a', 'b', 'c'].map((n) => valueOf(r, n)?.value)).toEqual(['11', '22', '23']);
    await untilState(poller, 'ok');
    // learned: no gap fill on this device any more
    expect(poller.plan.map((q) => [q.address, q.count])).toEqual([
      [0, 1],
      [5, 2],
    ]);
  });

  test('a dead unit id is quarantined while a device on another server keeps polling', async () => {
    const linkA = newLink('plant-dead', peerA.port);
    const linkB = newLink('annex', (peerB as ModbusPeer).port);
    const dead = newPoller(linkA, { id: 'ghost', unitId: 9, pollMs: 50, points: [pt('x', { address: 0 })] });
    const alive = newPoller(linkB, { id: 'annex-1', unitId: 1, pollMs: 50, points: [pt('y', { address: 0 })] });
    const deadStates: DeviceState[] = [];
    dead.on('state', (s: DeviceStateChange) => deadStates.push(s.state));
    alive.start();
    dead.start();
    const quarantine = nextEvent<DeviceStateChange>(dead, 'state', (s) => s.state === 'quarantined');
    const q = await quarantine;
    expect(q.reason).toMatch(/3 consecutive failed polls.*exception 11/);
    expect(deadStates).toEqual(['degraded', 'quarantined']); // logged once per change, not per retry
    // the healthy device keeps delivering readings after the other one was quarantined
    const r1 = await untilReadings(alive);
    const r2 = await untilReadings(alive, (r) => r.tsMs > r1.tsMs);
    expect(valueOf(r2, 'y')?.value).toBe('42');
    expect(alive.state).toBe('ok');
    // the quarantined device is still retried (at the backoff interval)
    const failedAgain = await untilReadings(dead);
    expect(failedAgain.failed).toEqual(['x']);
    await dead.stop();
  });

  test('a unit that times out is quarantined without stalling the cycle', async () => {
    const link = newLink('quiet-poll', peerA.port, 200);
    const poller = newPoller(link, {
      id: 'mute',
      unitId: 7,
      pollMs: 50,
      points: [pt('a', { address: 0 }), pt('b', { address: 100 }), pt('c', { area: 'input', address: 0 })],
    });
    const regs = jest.spyOn(link, 'readRegisters');
    poller.start();
    const r = await untilReadings(poller);
    // the first timeout ends the cycle: the other requests are not tried
    expect(regs).toHaveBeenCalledTimes(1);
    expect(r.failed.sort()).toEqual(['a', 'b', 'c']);
    const q = await nextEvent<DeviceStateChange>(poller, 'state', (s) => s.state === 'quarantined');
    expect(q.reason).toMatch(/no answer within 200 ms/);
    await poller.stop();
  });

  test('a stopped server makes the device offline; it resumes when the server restarts on the same port', async () => {
    const port = (peerB as ModbusPeer).port;
    const link = newLink('annex-restart', port);
    const poller = newPoller(link, { id: 'annex-2', unitId: 1, pollMs: 50, points: [pt('y', { address: 0 })] });
    poller.start();
    await untilState(poller, 'ok');
    const offline = nextEvent<DeviceStateChange>(poller, 'state', (s) => s.state === 'offline');
    await (peerB as ModbusPeer).stop();
    peerB = null;
    expect((await offline).reason).toMatch(/annex-restart/);
    expect(link.state).not.toBe('up');

    peerB = await startModbusPeer({ ...SPEC_B, port, units: { 1: { holding: { 0: [77] } } } });
    expect(peerB.port).toBe(port);
    const back = await untilReadings(poller, (r) => valueOf(r, 'y')?.value === '77');
    expect(back.failed).toEqual([]);
    await untilState(poller, 'ok');
    expect(link.state).toBe('up');
  });
});
