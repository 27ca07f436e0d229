/**
 * DevicePoller state machine and scheduling against an in-process fake link
 * (fake timers, injected random). Wire behaviour is covered by
 * test/integration/modbus-tcp.test.ts against a real peer.
 */
import { EventEmitter } from 'node:events';
import { pointWith, type ResolvedPoint } from '../../gateway/devices/point';
import { LinkDownError, ModbusExceptionError, ModbusTimeoutError } from '../../gateway/links/errors';
import type { LinkState, ModbusLink } from '../../gateway/links/link';
import { silentLogger } from '../../gateway/base/log';
import { BusQueue } from '../../gateway/poll/bus-queue';
import { DevicePoller, LATE_AFTER, type DeviceReadings, type DeviceStateChange } from '../../gateway/poll/device-poller';
import { pollPhases } from '../../gateway/poll/field-bus';
import { LinkSupervisor } from '../../gateway/poll/link-supervisor';

type Handler = (area: string, address: number, count: number) => Uint16Array | boolean[] | Error;

class FakeLink extends EventEmitter implements ModbusLink {
  readonly id = 'fake';
  readonly busKey = 'fake:bus';
  state: LinkState = 'closed';
  openFails = 0;
  opens = 0;
  requests: string[] = [];
  handler: Handler = (_a, _addr, count) => new Uint16Array(count);

  async open(): Promise<void> {
    this.opens += 1;
    this.set('connecting');
    if (this.openFails > 0) {
      this.openFails -= 1;
      this.set('down');
      throw new LinkDownError(this.id, 'refused');
    }
    this.set('up');
  }
  async close(): Promise<void> {
    this.set('closed');
  }
  set(s: LinkState): void {
    if (s === this.state) return;
    this.state = s;
    this.emit('state', s);
  }
  latencyMs = 0;
  private async answer<T>(area: string, address: number, count: number): Promise<T> {
    this.requests.push(`${area}:${address}+${count}`);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.state !== 'up') throw new LinkDownError(this.id, 'down');
    const r = this.handler(area, address, count);
    if (r instanceof Error) throw r;
    return r as T;
  }
  readRegisters(_u: number, area: 'holding' | 'input', address: number, count: number) {
    return this.answer<Uint16Array>(area, address, count);
  }
  readBits(_u: number, area: 'coil' | 'discrete', address: number, count: number) {
    return this.answer<boolean[]>(area, address, count);
  }
  regs = new Map<number, number>();
  async writeRegisters(_u: number, address: number, words: number[]) {
    words.forEach((w, i) => this.regs.set(address + i, w));
  }
  async writeCoil() {}
}

const pt = (name: string, address: number, over: Partial<ResolvedPoint> = {}): ResolvedPoint => pointWith(name, { address, ...over });

const logger = silentLogger();
let link: FakeLink;
let poller: DevicePoller;
let readings: DeviceReadings[];
let states: DeviceStateChange[];

function setup(points: ResolvedPoint[], pollMs = 100, phaseMs = 0, anchorMs?: number) {
  link = new FakeLink();
  const supervisor = new LinkSupervisor(link, { logger, baseMs: 100, capMs: 400, random: () => 0.999999 });
  poller = new DevicePoller({
    device: { id: 'dev', unitId: 1, pollMs, points, phaseMs, anchorMs },
    link,
    queue: new BusQueue(link.busKey),
    logger,
    supervisor,
    backoffCapMs: 1000,
    random: () => 0.999999,
  });
  readings = [];
  states = [];
  poller.on('readings', (r: DeviceReadings) => readings.push(r));
  poller.on('state', (s: DeviceStateChange) => states.push(s));
}

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(async () => {
  const stopping = poller?.stop();
  await jest.advanceTimersByTimeAsync(1000); // let a request in flight finish
  await stopping;
  jest.useRealTimers();
});

test('healthy device: ok, polled every pollMs', async () => {
  setup([pt('a', 0), pt('b', 1)]);
  link.handler = (_a, address, count) => Uint16Array.from({ length: count }, (_, i) => address + i + 10);
  poller.start();
  await jest.advanceTimersByTimeAsync(350);
  expect(readings.map((r) => r.tsMs)).toEqual([0, 100, 200, 300]);
  expect(readings[0].values.map((v) => v.decoded.value)).toEqual(['10', '11']);
  expect(states.map((s) => s.state)).toEqual(['ok']);
  expect(link.requests).toEqual(Array(4).fill('holding:0+2'));
});

test('fixed poll rate: a slow cycle does not push the schedule back', async () => {
  setup([pt('a', 0), pt('b', 50)]); // two requests per cycle
  link.latencyMs = 30;
  poller.start();
  await jest.advanceTimersByTimeAsync(290);
  expect(readings.map((r) => r.tsMs)).toEqual([60, 160, 260]); // cycles start at 0, 100, 200
  link.latencyMs = 80; // a cycle now takes 160 ms > pollMs: the next one starts right away
  await jest.advanceTimersByTimeAsync(340);
  const [late1, late2] = readings.map((r) => r.tsMs).slice(3);
  expect(late1).toBe(300 + 160);
  // started right after the late one (fake time; the timer yield may count 1 ms), not at the
  // next 100 ms boundary (500 -> 660) nor pollMs after the late one (560 -> 720)
  expect(late2).toBeGreaterThanOrEqual(460 + 160);
  expect(late2).toBeLessThan(500 + 160);
});

test('a failing device degrades, is quarantined after 3 failed cycles, backs off, and recovers', async () => {
  setup([pt('a', 0)]);
  link.handler = () => new ModbusTimeoutError('fake read', 1000);
  poller.start();
  await jest.advanceTimersByTimeAsync(2000);
  // delays: 100 (attempt 1), 200, 400, 800, 1000 (cap) -> cycles at 0, 100, 300, 700, 1500
  expect(readings.map((r) => r.tsMs)).toEqual([0, 100, 300, 700, 1500]);
  expect(readings.every((r) => r.values.length === 0 && r.failed[0] === 'a')).toBe(true);
  expect(states.map((s) => s.state)).toEqual(['degraded', 'quarantined']);
  expect(states[1].reason).toMatch(/3 consecutive failed polls: .*no answer/);

  link.handler = (_a, _addr, count) => new Uint16Array(count).fill(5);
  await jest.advanceTimersByTimeAsync(1000); // next retry at 2500
  expect(states.map((s) => s.state)).toEqual(['degraded', 'quarantined', 'ok']);
  const okAt = readings.findIndex((r) => r.values.length === 1);
  expect(readings[okAt].tsMs).toBe(2500);
  expect(readings[okAt + 1].tsMs).toBe(2600); // back to pollMs
});

test('some points failing is degraded, not a failed cycle', async () => {
  setup([pt('a', 0), pt('b', 100)]);
  link.handler = (_a, address, count) => (address === 100 ? new ModbusExceptionError(4, 'fake') : new Uint16Array(count));
  poller.start();
  await jest.advanceTimersByTimeAsync(450);
  expect(readings.map((r) => r.tsMs)).toEqual([0, 100, 200, 300, 400]);
  expect(readings[0].failed).toEqual(['b']);
  expect(states.map((s) => s.state)).toEqual(['degraded']);
  expect(states[0].reason).toMatch(/failing points: b.*exception 4/);
});

test('a timeout ends the cycle: later requests are not sent', async () => {
  setup([pt('a', 0), pt('b', 100), pt('c', 200)]);
  link.handler = () => new ModbusTimeoutError('fake', 1000);
  poller.start();
  await jest.advanceTimersByTimeAsync(10);
  expect(link.requests).toEqual(['holding:0+1']);
  expect(readings[0].failed.sort()).toEqual(['a', 'b', 'c']);
});

test('exception 02 on a merged read: split down to single points, learn, replan', async () => {
  setup([pt('a', 0), pt('b', 2), pt('c', 3), pt('bad', 5)]);
  link.handler = (_a, address, count) =>
    address <= 5 && address + count > 5 ? new ModbusExceptionError(2, 'fake') : new Uint16Array(count).fill(address);
  poller.start();
  await jest.advanceTimersByTimeAsync(10);
  expect(link.requests).toEqual(['holding:0+6', 'holding:0+3', 'holding:3+3', 'holding:3+1', 'holding:5+1']);
  expect(readings[0].failed).toEqual(['bad']);
  expect(readings[0].values.map((v) => v.point.name)).toEqual(['a', 'b', 'c']);
  // learned maxGap 0: a | b c | bad
  expect(poller.plan.map((r) => `${r.address}+${r.count}`)).toEqual(['0+1', '2+2', '5+1']);
  link.requests = [];
  await jest.advanceTimersByTimeAsync(100);
  expect(link.requests).toEqual(['holding:0+1', 'holding:2+2', 'holding:5+1']);
  expect(states.map((s) => s.state)).toEqual(['degraded']);
});

test('link down: offline, the supervisor reconnects with backoff, polling resumes', async () => {
  setup([pt('a', 0)]);
  poller.start();
  await jest.advanceTimersByTimeAsync(150);
  expect(states.map((s) => s.state)).toEqual(['ok']);
  link.openFails = 2;
  link.set('down');
  expect(states.map((s) => s.state)).toEqual(['ok', 'offline']);
  const before = readings.length;
  await jest.advanceTimersByTimeAsync(100); // retry 1 (100 ms) fails
  expect(link.opens).toBe(2);
  expect(readings.length).toBe(before);
  await jest.advanceTimersByTimeAsync(200); // retry 2 (200 ms) fails
  expect(link.opens).toBe(3);
  await jest.advanceTimersByTimeAsync(400); // retry 3 (400 ms, cap) succeeds
  expect(link.opens).toBe(4);
  expect(link.state).toBe('up');
  await jest.advanceTimersByTimeAsync(10);
  expect(readings.length).toBeGreaterThan(before);
  expect(states.map((s) => s.state)).toEqual(['ok', 'offline', 'ok']);
});

test('write: encoded, written ahead of reads, confirmed by read-back', async () => {
  setup([pt('sp', 7, { writable: true, scale: '0.5' })]);
  link.handler = (_a, address, count) => Uint16Array.from({ length: count }, (_, i) => link.regs.get(address + i) ?? 0);
  poller.start();
  await jest.advanceTimersByTimeAsync(1);
  await expect(poller.write('sp', '21.5')).resolves.toEqual({ value: '21.5' });
  expect(link.regs.get(7)).toBe(43);
  // a device that ignores the write fails the read-back
  link.writeRegisters = async () => {};
  await expect(poller.write('sp', '3')).rejects.toMatchObject({
    code: 'GW_ERR_WRITE_READBACK',
    expected: '3.0',
    actual: '21.5',
  });
});

test('stop ends the loop and refuses writes', async () => {
  setup([pt('a', 0, { writable: true })]);
  poller.start();
  await jest.advanceTimersByTimeAsync(150);
  await poller.stop();
  const n = readings.length;
  await jest.advanceTimersByTimeAsync(1000);
  expect(readings.length).toBe(n);
  await expect(poller.write('a', 1)).rejects.toMatchObject({ code: 'GW_ERR_POLLER_STOPPED' });
});

test('phase: the first cycle starts phaseMs after start, then every pollMs', async () => {
  setup([pt('a', 0)], 100, 40);
  poller.start();
  await jest.advanceTimersByTimeAsync(250);
  expect(readings.map((r) => r.tsMs)).toEqual([40, 140, 240]);
});

test('the devices of a poll period are spread evenly over it', () => {
  const phases = pollPhases([
    { id: 'a', pollMs: 1000 },
    { id: 'b', pollMs: 1000 },
    { id: 'c', pollMs: 500 },
    { id: 'd', pollMs: 1000 },
    { id: 'e', pollMs: 1000 },
  ]);
  expect(Object.fromEntries(phases)).toEqual({ a: 0, b: 250, c: 0, d: 500, e: 750 });
});

test('devices of a poll period share a phase per slot, slots at least PHASE_SLOT_MS wide', () => {
  const fleet = Array.from({ length: 50 }, (_, k) => ({ id: `m${k}`, pollMs: 1000 }));
  const phases = pollPhases([...fleet, { id: 'x', pollMs: 150 }, { id: 'y', pollMs: 150 }, { id: 'z', pollMs: 150 }]);
  const slots = new Map<number, string[]>();
  for (const { id } of fleet) slots.set(phases.get(id)!, [...(slots.get(phases.get(id)!) ?? []), id]);
  expect([...slots.keys()]).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  expect([...slots.values()].map((ids) => ids.length)).toEqual(Array(10).fill(5));
  expect(slots.get(100)).toEqual(['m5', 'm6', 'm7', 'm8', 'm9']); // config order
  expect([phases.get('x'), phases.get('y'), phases.get('z')]).toEqual([0, 0, 0]); // a 150 ms period has one slot
});

test('a shared anchor: a poller started later is still due on the grid anchor + phase + k × pollMs', async () => {
  setup([pt('a', 0)], 100, 40, 0);
  await jest.advanceTimersByTimeAsync(25); // started 25 ms after its siblings' anchor
  poller.start();
  await jest.advanceTimersByTimeAsync(230);
  expect(readings.map((r) => r.tsMs)).toEqual([40, 140, 240]);
});

test('a poller started after its first due time polls at once, then on the grid', async () => {
  setup([pt('a', 0)], 1000, 40, 0);
  await jest.advanceTimersByTimeAsync(70); // started 30 ms past anchor + phase: no waiting a whole period
  poller.start();
  await jest.advanceTimersByTimeAsync(2100);
  expect(readings.map((r) => r.tsMs)).toEqual([70, 1040, 2040]);
});

test('a device back from a backoff rejoins its grid', async () => {
  setup([pt('a', 0)], 100, 40, 0);
  let failing = true;
  link.handler = (_a, _addr, count) => (failing ? new ModbusTimeoutError('fake', 10) : new Uint16Array(count));
  link.latencyMs = 7; // failed cycles take 7 ms, then wait their backoff: off the grid
  poller.start();
  await jest.advanceTimersByTimeAsync(1234);
  expect(states.map((s) => s.state)).toContain('quarantined');
  failing = false;
  link.latencyMs = 0;
  await jest.advanceTimersByTimeAsync(2000);
  const ts = readings.filter((r) => r.values.length > 0).map((r) => r.tsMs);
  expect(ts.length).toBeGreaterThan(10);
  expect(ts.slice(1).map((t) => t % 100)).toEqual(Array(ts.length - 1).fill(40)); // the first is the recovering cycle
  expect(ts.slice(2).map((t, i) => t - ts[i + 1]!)).toEqual(Array(ts.length - 2).fill(100));
});

test('a device that cannot keep its pollMs: late and skipped polls counted, degraded "late", ok again when it catches up', async () => {
  setup([pt('a', 0)]);
  link.latencyMs = 250; // every cycle takes 2.5 periods
  poller.start();
  await jest.advanceTimersByTimeAsync(250 * (LATE_AFTER + 2));
  expect(poller.lateCount).toBeGreaterThanOrEqual(LATE_AFTER);
  expect(poller.skippedCount).toBeGreaterThanOrEqual(LATE_AFTER); // a whole period let pass per late cycle: shed, not queued
  expect(states.map((s) => s.state)).toEqual(['ok', 'degraded']);
  expect(states[1]!.reason).toMatch(/^late: /);
  // never more than one poll outstanding: one request per cycle, in sequence
  expect(link.requests.length).toBe(readings.length + 1);
  link.latencyMs = 0;
  await jest.advanceTimersByTimeAsync(100 * (LATE_AFTER + 2));
  expect(states.map((s) => s.state)).toEqual(['ok', 'degraded', 'ok']);
});
