/**
 * RTU over TCP (a serial-to-Ethernet converter) against a real, independent
 * peer: pymodbus 3.0's TCP server with its RTU framer (test/sim/modbus_server.py,
 * `framer: 'rtu'`) — RTU frames with CRC and no MBAP header on a TCP stream.
 * Covers the link, garbled replies (dropped, counted, the next request
 * succeeds), one transaction queue per converter with converters in parallel,
 * and a converter reboot without a gateway restart.
 */
import { RtuOverTcpLink } from '../../gateway/links/rtu-over-tcp';
import { withCrc } from '../../gateway/links/rtu-framer';
import type { LinkState } from '../../gateway/links/link';
import { silentLogger } from '../../gateway/base/log';
import { BusQueues } from '../../gateway/poll/bus-queue';
import { DevicePoller, type DeviceStateChange, type PolledDevice } from '../../gateway/poll/device-poller';
import { LinkSupervisors } from '../../gateway/poll/link-supervisor';
import { startModbusPeer, type ModbusPeer, type PeerSpec } from '../sim/modbus-peer';
import { nextEvent, pt, untilReadings, untilState, valueOf } from '../sim/poll-events';

jest.setTimeout(60_000);
const logger = silentLogger();
/** The test's own registries, as the FieldBus keeps its own. */
const queues = new BusQueues();
const supervisors = new LinkSupervisors();

const SPEC_A: PeerSpec = {
  framer: 'rtu',
  units: {
    1: {
      size: 200,
      holding: { 0: [0x1234, 0x5678, 7, 8], 10: [0x5678, 0x1234] },
      input: { 10: [0xfffe] },
      coil: { 0: [false, true, true] },
      discrete: { 0: [true, false, true] },
    },
  },
  // unit 9: the converter answers exception 0x0B for it; unit 7 gets no answer at all
  deadUnits: [9],
};
const SPEC_B: PeerSpec = { framer: 'rtu', units: { 1: { holding: { 0: [42] } } } };

let convA: ModbusPeer;
let convB: ModbusPeer | null;
const links: RtuOverTcpLink[] = [];
const pollers: DevicePoller[] = [];

function newLink(id: string, port: number, timeoutMs = 300): RtuOverTcpLink {
  const link = new RtuOverTcpLink({ id, host: '127.0.0.1', port, timeoutMs }, logger);
  links.push(link);
  return link;
}

function newPoller(link: RtuOverTcpLink, device: PolledDevice): DevicePoller {
  const supervisor = supervisors.for(link, { logger, baseMs: 50, capMs: 250 });
  const poller = new DevicePoller({ device, link, queue: queues.for(link.busKey), logger, supervisor, backoffCapMs: 250 });
  pollers.push(poller);
  return poller;
}

beforeAll(async () => {
  [convA, convB] = await Promise.all([startModbusPeer(SPEC_A), startModbusPeer(SPEC_B)]);
});

afterAll(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  await Promise.all(links.map((l) => l.close()));
  for (const l of links) queues.release(l.busKey);
  await Promise.all([convA?.stop(), convB?.stop()]);
});

describe('RtuOverTcpLink', () => {
  let link: RtuOverTcpLink;
  const states: LinkState[] = [];

  beforeAll(async () => {
    link = newLink('conv', convA.port);
    link.on('state', (s: LinkState) => states.push(s));
    await link.open();
  });

  test('opens and reports its state and bus', () => {
    expect(link.state).toBe('up');
    expect(states).toEqual(['connecting', 'up']);
    expect(link.busKey).toBe(`tcp:127.0.0.1:${convA.port}`);
  });

  test('reads and writes RTU frames through the converter', async () => {
    expect(Array.from(await link.readRegisters(1, 'holding', 0, 4))).toEqual([0x1234, 0x5678, 7, 8]);
    expect(Array.from(await link.readRegisters(1, 'input', 10, 1))).toEqual([0xfffe]);
    expect(await link.readBits(1, 'coil', 0, 3)).toEqual([false, true, true]);
    expect(await link.readBits(1, 'discrete', 0, 3)).toEqual([true, false, true]);
    await link.writeRegisters(1, 100, [4321]);
    await link.writeRegisters(1, 101, [1, 2]);
    await link.writeCoil(1, 5, true);
    expect(await convA.get('holding', 100, 3)).toEqual([4321, 1, 2]);
    expect(await convA.get('coil', 5, 1)).toEqual([1]);
    expect((await convA.requestCounts())[1]).toBeGreaterThanOrEqual(7); // every request crossed as an RTU frame
  });

  test('maps exceptions and timeouts; the connection survives both', async () => {
    await expect(link.readRegisters(1, 'holding', 195, 10)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_EXCEPTION', exceptionCode: 2 });
    await expect(link.readRegisters(9, 'holding', 0, 1)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_EXCEPTION', exceptionCode: 11 });
    await expect(link.readRegisters(7, 'holding', 0, 1)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_TIMEOUT' });
    expect(Array.from(await link.readRegisters(1, 'holding', 2, 2))).toEqual([7, 8]);
    expect(link.state).toBe('up');
  });

  test('bad CRC and truncated replies are dropped and counted; the next request succeeds', async () => {
    const before = link.stats();
    await convA.fault('crc');
    await expect(link.readRegisters(1, 'holding', 0, 2)).rejects.toMatchObject({
      code: 'GW_ERR_MODBUS_PROTOCOL',
      message: expect.stringMatching(/bad CRC/),
    });
    expect(Array.from(await link.readRegisters(1, 'holding', 0, 2))).toEqual([0x1234, 0x5678]);
    await convA.fault('truncate');
    await expect(link.readBits(1, 'coil', 0, 3)).rejects.toMatchObject({
      code: 'GW_ERR_MODBUS_PROTOCOL',
      message: expect.stringMatching(/truncated/),
    });
    expect(await link.readBits(1, 'coil', 0, 3)).toEqual([false, true, true]);
    const after = link.stats();
    expect(after.crcErrors - before.crcErrors).toBe(1);
    expect(after.truncatedFrames - before.truncatedFrames).toBe(1);
    expect(after.protocolErrors - before.protocolErrors).toBe(2);
    expect(after.timeouts).toBe(before.timeouts);
  });

  test('noise, split replies and stray frames are dropped and counted; the data read is exact', async () => {
    const before = link.stats();
    await convA.fault('noise');
    expect(Array.from(await link.readRegisters(1, 'holding', 10, 2))).toEqual([0x5678, 0x1234]);
    await convA.fault('split');
    expect(Array.from(await link.readRegisters(1, 'holding', 10, 2))).toEqual([0x5678, 0x1234]);
    // a late reply of another unit, then noise, while nothing is pending
    await convA.noise([...withCrc(Uint8Array.from([7, 3, 2, 0, 9])), 0xaa, 0x55]);
    await convA.get('holding', 0, 1);
    expect(Array.from(await link.readRegisters(1, 'holding', 3, 1))).toEqual([8]);
    await convA.fault('garbage');
    await expect(link.readRegisters(1, 'holding', 3, 1)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_TIMEOUT' });
    expect(Array.from(await link.readRegisters(1, 'holding', 3, 1))).toEqual([8]);
    const after = link.stats();
    expect(after.noiseBytes - before.noiseBytes).toBe(3 + 2 + 7);
    expect(after.strayFrames - before.strayFrames).toBe(1);
    expect(after.ok - before.ok).toBe(4);
    expect(after.requests).toBe(after.ok + after.exceptions + after.timeouts + after.protocolErrors);
  });

  test('a converter that drops the connection makes the link down; it reopens', async () => {
    const own = newLink('conv-drop', convA.port);
    await own.open();
    await own.readRegisters(1, 'holding', 0, 1);
    const down = nextEvent<LinkState>(own, 'state', (s) => s === 'down');
    expect(await convA.drop()).toBeGreaterThanOrEqual(1);
    await down;
    await expect(own.readRegisters(1, 'holding', 0, 1)).rejects.toMatchObject({ code: 'GW_ERR_LINK_DOWN' });
    await own.open();
    expect(Array.from(await own.readRegisters(1, 'holding', 2, 1))).toEqual([7]);
    expect(own.stats()).toMatchObject({ connects: 2, disconnects: 1, linkDown: 1 });
    await own.close();
    // `link` was dropped too: reopen it for the tests below
    if (link.state !== 'up') await link.open();
  });
});

describe('one transaction queue per converter', () => {
  test('requests on one bus run one at a time; another converter runs in parallel', async () => {
    const a = newLink('conv-a', convA.port, 1000);
    const b = newLink('conv-b', (convB as ModbusPeer).port, 1000);
    await Promise.all([a.open(), b.open()]);
    const qa = queues.for(a.busKey);
    const qb = queues.for(b.busKey);
    expect(qa).not.toBe(qb);
    const order: string[] = [];
    // unit 7 never answers: bus A is held for its full timeout
    const stuck = qa
      .run(() => a.readRegisters(7, 'holding', 0, 1))
      .catch((e: { code: string }) => {
        order.push(`a7:${e.code}`);
      });
    const next = qa
      .run(() => a.readRegisters(1, 'holding', 0, 1))
      .then((v) => {
        order.push(`a1:${v[0]}`);
      });
    const other = await qb.run(() => b.readRegisters(1, 'holding', 0, 1));
    order.push(`b1:${other[0]}`);
    await Promise.all([stuck, next]);
    expect(order).toEqual(['b1:42', 'a7:GW_ERR_MODBUS_TIMEOUT', `a1:${0x1234}`]);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('DevicePoller through a converter', () => {
  test('a converter reboot makes the device offline; polling resumes on the same link', async () => {
    const port = (convB as ModbusPeer).port;
    const link = newLink('conv-restart', port);
    const poller = newPoller(link, { id: 'annex-1', unitId: 1, pollMs: 50, points: [pt('y', { address: 0 })] });
    poller.start();
    const first = await untilReadings(poller);
    expect(valueOf(first, 'y')?.value).toBe('42');
    await untilState(poller, 'ok');
    const offline = nextEvent<DeviceStateChange>(poller, 'state', (s) => s.state === 'offline');
    await (convB as ModbusPeer).stop();
    convB = null;
    expect((await offline).reason).toMatch(/conv-restart/);

    convB = await startModbusPeer({ ...SPEC_B, port, units: { 1: { holding: { 0: [77] } } } });
    const back = await untilReadings(poller, (r) => valueOf(r, 'y')?.value === '77');
    expect(back.failed).toEqual([]);
    await untilState(poller, 'ok');
    expect(link.state).toBe('up');
    expect(link.stats()).toMatchObject({ connects: 2, disconnects: 1 });
    await poller.stop();
  });
});
