/**
 * Modbus RTU on a serial line against a real, independent peer: pymodbus 3.0's
 * RTU server (test/sim/modbus_server.py, `serial`) on one end of a socat pty
 * pair, the link on the other (test/sim/serial-bus.ts). Covers the link, the
 * RTU timing it derives, garbage on the line (bad CRC, truncated replies,
 * noise, stray frames: dropped, counted, never in a reading), a dead unit
 * sharing the bus with a healthy one, and the port vanishing and coming back.
 */
import { execFileSync } from 'node:child_process';
import type { LinkConfig } from '../../gateway/config/load';
import { errorCodesOf } from '../../gateway/base/error-codes';
import type { LinkState } from '../../gateway/links/link';
import { createModbusLink } from '../../gateway/poll/link-factory';
import { linkStats } from '../../gateway/links/modbus-client-link';
import { ModbusRtuLink, rtuInterFrameGapMs, serialCharBits, type ModbusRtuLinkOptions } from '../../gateway/links/modbus-rtu';
import { withCrc } from '../../gateway/links/rtu-framer';
import { RtuOverTcpLink } from '../../gateway/links/rtu-over-tcp';
import { silentLogger } from '../../gateway/base/log';
import { BusQueues } from '../../gateway/poll/bus-queue';
import {
  DevicePoller,
  type DeviceReadings,
  type DeviceState,
  type DeviceStateChange,
  type PolledDevice,
} from '../../gateway/poll/device-poller';
import { LinkSupervisors } from '../../gateway/poll/link-supervisor';
import type { PeerSpec } from '../sim/modbus-peer';
import { nextEvent, pt, untilReadings, untilState, valueOf } from '../sim/poll-events';
import { startSerialBus, type SerialBus } from '../sim/serial-bus';

const LINK_ERROR_CODES = errorCodesOf('links');

jest.setTimeout(60_000);
const logger = silentLogger();
/** The test's own registries, as the FieldBus keeps its own. */
const queues = new BusQueues();
const supervisors = new LinkSupervisors();

const SPEC: PeerSpec = {
  units: {
    1: {
      size: 200,
      holding: { 0: [0x1234, 0x5678, 7, 8], 10: [0x5678, 0x1234], 30: [5] },
      input: { 10: [0xfffe], 20: [0x42f6, 0xe979] },
      coil: { 0: [false, true, true] },
      discrete: { 0: [true, false, true] },
    },
    2: { holding: { 0: [42] } },
  },
  // unit 5 is not on the bus: requests to it get no answer at all
  evolutions: [{ unit: 1, area: 'holding', address: 50, type: 'uint32', step: 7, everyMs: 20 }],
};

let bus: SerialBus;
const links: ModbusRtuLink[] = [];
const pollers: DevicePoller[] = [];

function newLink(id: string, timeoutMs = 300, over: Partial<ModbusRtuLinkOptions> = {}): ModbusRtuLink {
  const link = new ModbusRtuLink({ id, path: bus.path, baudRate: 9600, timeoutMs, ...over }, logger);
  links.push(link);
  return link;
}

function newPoller(link: ModbusRtuLink, device: PolledDevice, over: { backoffCapMs?: number; random?: () => number } = {}) {
  // fast reconnects for the test; the first .for() call fixes a link's supervisor options
  const supervisor = supervisors.for(link, { logger, baseMs: 50, capMs: 250 });
  const poller = new DevicePoller({
    device,
    link,
    queue: queues.for(link.busKey),
    logger,
    supervisor,
    backoffCapMs: over.backoffCapMs ?? 250,
    random: over.random,
  });
  pollers.push(poller);
  return poller;
}

/** Stop a test's pollers and close its link: one link at a time holds the (locked) serial port. */
async function finish(link: ModbusRtuLink, ...ps: DevicePoller[]): Promise<void> {
  await Promise.all(ps.map((p) => p.stop()));
  await link.close();
  queues.release(link.busKey);
}

beforeAll(async () => {
  bus = await startSerialBus(SPEC, { baudrate: 9600 });
});

afterAll(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  await Promise.all(links.map((l) => l.close()));
  for (const l of links) queues.release(l.busKey);
  await bus?.dispose();
});

test('link error codes are unique', () => {
  expect(new Set(LINK_ERROR_CODES).size).toBe(LINK_ERROR_CODES.length);
});

describe('RTU timing and options', () => {
  test('t3.5 is 3.5 character times, fixed 1.75 ms above 19200 baud', () => {
    expect(serialCharBits(8, 'none', 1)).toBe(10);
    expect(serialCharBits(8, 'even', 1)).toBe(11);
    expect(serialCharBits(7, 'odd', 2)).toBe(11);
    expect(rtuInterFrameGapMs(9600, 11)).toBeCloseTo((3.5 * 11 * 1000) / 9600, 9); // 4.01 ms
    expect(rtuInterFrameGapMs(19200, 11)).toBeCloseTo((3.5 * 11 * 1000) / 19200, 9); // 2.005 ms
    expect(rtuInterFrameGapMs(38400, 11)).toBe(1.75);
    expect(rtuInterFrameGapMs(115200, 10)).toBe(1.75);

    const slow = new ModbusRtuLink({ id: 'slow', path: '/dev/null', baudRate: 1200, parity: 'even' }, logger);
    expect(slow.interFrameGapMs).toBeCloseTo((3.5 * 11 * 1000) / 1200, 9);
    expect(slow.byteTimeoutMs).toBe(Math.ceil(2 * slow.interFrameGapMs)); // 65 ms: longer than the 20 ms floor
    expect(slow.framing).toBe('1200 8E1');
    expect(slow.busKey).toBe('serial:/dev/null');
    expect(slow.timeoutMs).toBe(1000);
    const fast = new ModbusRtuLink({ id: 'fast', path: '/dev/null', baudRate: 115200 }, logger);
    expect([fast.interFrameGapMs, fast.byteTimeoutMs, fast.framing]).toEqual([1.75, 20, '115200 8N1']);
  });

  test('refuses options it cannot use', () => {
    const make = (o: Partial<ModbusRtuLinkOptions>) => () => new ModbusRtuLink({ id: 'x', path: '/dev/null', ...o }, logger);
    const refused = expect.objectContaining({ code: 'GW_ERR_LINK_OPTIONS' });
    expect(make({ path: '' })).toThrow(refused);
    expect(make({ baudRate: 0 })).toThrow(refused);
    expect(make({ parity: 'mark' as never })).toThrow(refused);
    expect(make({ dataBits: 6 as never })).toThrow(refused);
    expect(make({ stopBits: 3 as never })).toThrow(refused);
  });

  test('the link factory builds both RTU link types from config', () => {
    const rtu = createModbusLink(
      {
        id: 'rs485',
        type: 'modbus-rtu',
        path: '/dev/ttyUSB0',
        baudRate: 19200,
        parity: 'even',
        dataBits: 8,
        stopBits: 1,
        timeoutMs: 500,
      } as LinkConfig,
      logger,
    );
    expect(rtu).toBeInstanceOf(ModbusRtuLink);
    expect((rtu as ModbusRtuLink).framing).toBe('19200 8E1');
    expect(rtu?.busKey).toBe('serial:/dev/ttyUSB0');
    expect((rtu as ModbusRtuLink).timeoutMs).toBe(500);
    const conv = createModbusLink(
      { id: 'conv', type: 'rtu-over-tcp', host: '127.0.0.1', port: 4001, timeoutMs: 700 } as LinkConfig,
      logger,
    );
    expect(conv).toBeInstanceOf(RtuOverTcpLink);
    expect(conv?.busKey).toBe('tcp:127.0.0.1:4001');
  });

  test('opens the port with the configured speed and stop bits', async () => {
    // stty reads the pty's termios. (A Linux pty forces CS8 and clears PARENB whatever is asked,
    // so data bits and parity cannot be observed here; they go to the same tcsetattr call.)
    const a = newLink('stty-a', 300, { baudRate: 19200, stopBits: 2, parity: 'even' });
    await a.open();
    const sa = execFileSync('stty', ['-F', bus.path, '-a']).toString();
    expect(sa).toMatch(/speed 19200 baud/);
    expect(sa).toMatch(/(^|\s)cstopb/);
    expect(Array.from(await a.readRegisters(1, 'holding', 2, 2))).toEqual([7, 8]);
    await a.close();
    const b = newLink('stty-b', 300, { baudRate: 115200, stopBits: 1 });
    await b.open();
    const sb = execFileSync('stty', ['-F', bus.path, '-a']).toString();
    expect(sb).toMatch(/speed 115200 baud/);
    expect(sb).toMatch(/-cstopb/);
    await b.close();
  });
});

describe('ModbusRtuLink', () => {
  let link: ModbusRtuLink;
  const states: LinkState[] = [];

  beforeAll(async () => {
    link = newLink('rs485');
    link.on('state', (s: LinkState) => states.push(s));
    expect(link.state).toBe('closed');
    await link.open();
  });

  afterAll(async () => {
    await finish(link);
  });

  test('opens and reports its state and bus', () => {
    expect(link.state).toBe('up');
    expect(states).toEqual(['connecting', 'up']);
    expect(link.busKey).toBe(`serial:${bus.path}`);
  });

  test('reads every area and several units with 0-based addresses', async () => {
    expect(Array.from(await link.readRegisters(1, 'holding', 0, 4))).toEqual([0x1234, 0x5678, 7, 8]);
    expect(Array.from(await link.readRegisters(1, 'input', 20, 2))).toEqual([0x42f6, 0xe979]);
    expect(await link.readBits(1, 'coil', 0, 3)).toEqual([false, true, true]);
    expect(await link.readBits(1, 'discrete', 0, 3)).toEqual([true, false, true]);
    expect(await link.readBits(1, 'coil', 0, 11)).toHaveLength(11);
    expect(Array.from(await link.readRegisters(2, 'holding', 0, 1))).toEqual([42]);
    expect(Array.from(await link.readRegisters(1, 'holding', 0, 125))).toHaveLength(125); // the largest reply: 255 bytes
  });

  test('writes registers (FC6 and FC16) and coils', async () => {
    await link.writeRegisters(1, 100, [4321]);
    await link.writeRegisters(1, 101, [1, 2, 65535]);
    await link.writeCoil(1, 5, true);
    expect(await bus.peer.get('holding', 100, 4)).toEqual([4321, 1, 2, 65535]);
    expect(await bus.peer.get('coil', 5, 1)).toEqual([1]);
    expect(Array.from(await link.readRegisters(1, 'holding', 100, 4))).toEqual([4321, 1, 2, 65535]);
  });

  test('maps exceptions and refuses requests Modbus cannot carry', async () => {
    await expect(link.readRegisters(1, 'holding', 195, 10)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_EXCEPTION', exceptionCode: 2 });
    await expect(link.readRegisters(1, 'holding', 0, 126)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_REQUEST' });
    await expect(link.writeRegisters(300, 0, [1])).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_REQUEST' });
    expect(Array.from(await link.readRegisters(1, 'holding', 2, 2))).toEqual([7, 8]);
  });

  test('a unit that never answers times out; the next request succeeds', async () => {
    const before = link.stats();
    await expect(link.readRegisters(5, 'holding', 0, 1)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_TIMEOUT' });
    expect(Array.from(await link.readRegisters(1, 'holding', 2, 1))).toEqual([7]);
    const after = link.stats();
    expect(after.timeouts - before.timeouts).toBe(1);
    expect(after.ok - before.ok).toBe(1);
  });

  test('a reply with a bad CRC is dropped and counted; the next request succeeds', async () => {
    const before = link.stats();
    await bus.peer.fault('crc');
    await expect(link.readRegisters(1, 'holding', 0, 4)).rejects.toMatchObject({
      code: 'GW_ERR_MODBUS_PROTOCOL',
      message: expect.stringMatching(/bad CRC/),
    });
    expect(Array.from(await link.readRegisters(1, 'holding', 0, 4))).toEqual([0x1234, 0x5678, 7, 8]);
    const after = link.stats();
    expect(after.crcErrors - before.crcErrors).toBe(1);
    expect(after.protocolErrors - before.protocolErrors).toBe(1);
    expect(after.timeouts).toBe(before.timeouts); // judged on line silence, not by waiting out the timeout
  });

  test('a truncated reply is dropped and counted; the next request succeeds', async () => {
    const before = link.stats();
    await bus.peer.fault('truncate');
    await expect(link.readRegisters(1, 'input', 10, 1)).rejects.toMatchObject({
      code: 'GW_ERR_MODBUS_PROTOCOL',
      message: expect.stringMatching(/truncated/),
    });
    expect(Array.from(await link.readRegisters(1, 'input', 10, 1))).toEqual([0xfffe]);
    expect(link.stats().truncatedFrames - before.truncatedFrames).toBe(1);
  });

  test('noise before a reply, and a reply split across reads, still read correctly', async () => {
    const before = link.stats();
    await bus.peer.fault('noise');
    expect(Array.from(await link.readRegisters(1, 'holding', 10, 2))).toEqual([0x5678, 0x1234]);
    await bus.peer.fault('split');
    expect(Array.from(await link.readRegisters(1, 'holding', 10, 2))).toEqual([0x5678, 0x1234]);
    const after = link.stats();
    expect(after.noiseBytes - before.noiseBytes).toBe(3);
    expect(after.ok - before.ok).toBe(2);
    expect(after.crcErrors + after.truncatedFrames).toBe(before.crcErrors + before.truncatedFrames);
  });

  test('noise and a stray frame between requests are dropped and counted', async () => {
    const before = link.stats();
    // a late reply of unit 7 (valid CRC) and 4 bytes of noise, while no request is pending
    await bus.peer.noise([...withCrc(Uint8Array.from([7, 3, 2, 0, 9])), 0x00, 0xff, 0x13, 0x37]);
    await bus.peer.get('holding', 0, 1); // a round trip through the peer: the bytes are on the line by now
    expect(Array.from(await link.readRegisters(1, 'holding', 3, 1))).toEqual([8]);
    const after = link.stats();
    expect(after.strayFrames - before.strayFrames).toBe(1);
    expect(after.noiseBytes - before.noiseBytes).toBe(4);
    expect(after.ok - before.ok).toBe(1);
  });

  test('noise instead of a reply is a timeout; the noise is counted', async () => {
    const before = link.stats();
    await bus.peer.fault('garbage');
    await expect(link.readRegisters(1, 'holding', 0, 1)).rejects.toMatchObject({ code: 'GW_ERR_MODBUS_TIMEOUT' });
    expect(Array.from(await link.readRegisters(1, 'holding', 0, 1))).toEqual([0x1234]);
    const after = link.stats();
    expect(after.noiseBytes - before.noiseBytes).toBe(7);
    expect(after.timeouts - before.timeouts).toBe(1);
  });

  test('every request is accounted for exactly once', () => {
    const s = link.stats();
    expect(linkStats(link)).toEqual(s);
    expect(s.requests).toBe(s.ok + s.exceptions + s.timeouts + s.protocolErrors);
    expect(s.state).toBe('up');
    expect(s.connects).toBe(1);
  });
});

describe('DevicePoller on an RTU bus', () => {
  const fixed = ['flow', 'temp', 'ph', 'valve'] as const;
  const expected: Record<(typeof fixed)[number], string | boolean> = { flow: '305419896', temp: '-0.2', ph: '123.456', valve: true };

  test('garbage on the line never reaches a reading; polling recovers', async () => {
    const link = newLink('rs485-poll');
    const poller = newPoller(link, {
      id: 'meter-1',
      unitId: 1,
      pollMs: 30,
      points: [
        pt('water', { kind: 'counter', type: 'uint32', address: 50, unit: 'L' }),
        pt('flow', { type: 'uint32', wordOrder: 'CDAB', address: 10 }),
        pt('temp', { area: 'input', type: 'int16', scale: '0.1', address: 10 }),
        pt('ph', { area: 'input', type: 'float32', address: 20 }),
        pt('valve', { area: 'coil', type: 'bool', address: 1 }),
        pt('cycle', { kind: 'setpoint', type: 'uint16', address: 30, writable: true }),
      ],
    });
    const readings: DeviceReadings[] = [];
    poller.on('readings', (r: DeviceReadings) => readings.push(r));
    poller.start();
    await untilState(poller, 'ok');
    const before = link.stats();
    // one fault of each kind, each on the reply to the next request
    for (const kind of ['crc', 'truncate', 'noise', 'split', 'garbage'] as const) {
      await bus.peer.fault(kind);
      const n = readings.length;
      await untilReadings(poller, () => readings.length > n);
      await untilReadings(poller, (r) => r.failed.length === 0); // back to complete readings
    }
    await expect(poller.write('cycle', 1234)).resolves.toEqual({ value: '1234' });
    await untilState(poller, 'ok');
    await poller.stop();

    const after = link.stats();
    expect(after.crcErrors - before.crcErrors).toBe(1);
    expect(after.truncatedFrames - before.truncatedFrames).toBe(1);
    expect(after.protocolErrors - before.protocolErrors).toBe(2);
    expect(after.timeouts - before.timeouts).toBe(1);
    expect(after.noiseBytes - before.noiseBytes).toBe(3 + 7);
    // whatever a reading carries is exactly what the device holds; failed points carry nothing
    let lastWater = -1n;
    for (const r of readings) {
      for (const name of fixed) if (!r.failed.includes(name)) expect(valueOf(r, name)?.value).toBe(expected[name]);
      for (const name of r.failed) expect(valueOf(r, name)).toBeUndefined();
      const water = valueOf(r, 'water')?.counterRaw as bigint | undefined;
      if (water !== undefined) {
        expect(water).toBeGreaterThanOrEqual(lastWater); // the scripted counter only climbs
        lastWater = water;
      }
    }
    expect(readings.filter((r) => r.failed.length > 0).length).toBeGreaterThanOrEqual(3); // crc, truncate, garbage
    await finish(link);
  });

  test('a dead unit on the bus delays the healthy unit by at most one timeout per backoff period', async () => {
    const timeoutMs = 200;
    const capMs = 400;
    const pollMs = 50;
    const link = newLink('rs485-shared', timeoutMs);
    const healthy = newPoller(link, { id: 'healthy', unitId: 2, pollMs, points: [pt('y', { address: 0 })] });
    // random ≈ 1: every backoff delay is its ceiling min(cap, pollMs·2^(n-1)), so the bound below is exact
    const dead = newPoller(
      link,
      { id: 'dead', unitId: 5, pollMs, points: [pt('x', { address: 0 })] },
      {
        backoffCapMs: capMs,
        random: () => 0.999_999,
      },
    );
    const healthyStates: DeviceState[] = [];
    healthy.on('state', (s: DeviceStateChange) => healthyStates.push(s.state));
    healthy.start();
    dead.start();
    await nextEvent<DeviceStateChange>(dead, 'state', (s) => s.state === 'quarantined');
    // quarantined after 3 failures; the 4th waits min(cap, 50·2^3) = 400 ms = the cap, and so does every later one
    await untilReadings(dead);
    const c0 = await bus.peer.requestCounts();
    const s0 = link.stats();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await untilReadings(dead); // three more retries of the dead unit
    const c1 = await bus.peer.requestCounts();
    const s1 = link.stats();
    const windowMs = performance.now() - t0;
    await Promise.all([healthy.stop(), dead.stop()]);

    const deadRequests = (c1[5] ?? 0) - (c0[5] ?? 0);
    // each dead request costs one timeout and is followed by a backoff of capMs before the next one
    const bound = Math.floor(windowMs / (timeoutMs + capMs)) + 1;
    expect(deadRequests).toBeGreaterThanOrEqual(3);
    expect(deadRequests).toBeLessThanOrEqual(bound);
    expect(s1.timeouts - s0.timeouts).toBe(deadRequests); // the link saw exactly those requests time out
    // the healthy unit kept being polled the whole time, never counted as failing
    expect((c1[2] ?? 0) - (c0[2] ?? 0)).toBeGreaterThan(deadRequests);
    expect(healthyStates).toEqual(['ok']);
    await finish(link);
  });

  test('the port vanishing (peer and socat killed) makes the device offline; it resumes when they are back', async () => {
    const link = newLink('rs485-restart');
    const poller = newPoller(link, { id: 'meter-r', unitId: 2, pollMs: 50, points: [pt('y', { address: 0 })] });
    poller.start();
    await untilState(poller, 'ok');
    const offline = nextEvent<DeviceStateChange>(poller, 'state', (s) => s.state === 'offline');
    await bus.stop();
    expect((await offline).reason).toMatch(/rs485-restart/);
    expect(link.state).not.toBe('up');

    await bus.start({ ...SPEC, units: { ...SPEC.units, 2: { holding: { 0: [77] } } } });
    const back = await untilReadings(poller, (r) => valueOf(r, 'y')?.value === '77');
    expect(back.failed).toEqual([]);
    await untilState(poller, 'ok');
    expect(link.state).toBe('up');
    const s = link.stats();
    expect(s.disconnects).toBe(1);
    expect(s.connects).toBe(2);
    await finish(link, poller);
  });
});
