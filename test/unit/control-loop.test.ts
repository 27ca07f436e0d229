/**
 * m2m-control without a wire: the mapping (table and linear, exact decimals,
 * hysteresis), and the loop's writes against a fake point writer: one write
 * per change, the minimum interval, write-back of a changed setpoint, and a
 * failed write retried with backoff and raised as `control-failed` events.
 * No wall-clock thresholds: time is a fake clock, timers are jest's fakes.
 */
import { ControlMap, type MapState } from '../../gateway/policy/control-map';
import { ControlLoop } from '../../gateway/policy/control-loop';
import type { CompiledControl } from '../../gateway/policy/compile';
import type { LedgerEvent } from '../../gateway/ledger/store';
import { silentLogger } from '../../gateway/base/log';

const d = (s: string) => BigInt(Math.round(Number(s) * 1e9));
const table = [
  { from: '0', set: '1' },
  { from: '10', set: '2' },
  { from: '15', set: '3' },
  { from: '20', set: '4' },
];

describe('ControlMap', () => {
  it('table: the row at or below the input applies; the first row below it', () => {
    const m = new ControlMap({ table, hysteresis: '0' });
    const at = (x: string) => m.next(d(x), {});
    expect(['-3', '0', '9.999', '10', '14.9', '15', '19.99', '20', '99'].map(at)).toEqual(['1', '1', '1', '2', '2', '3', '3', '4', '4']);
  });

  it('table with hysteresis: a row is left only past its edge by the hysteresis', () => {
    const m = new ControlMap({ table, hysteresis: '0.5' });
    const st: MapState = {};
    const seq = ['12', '15.2', '14.8', '15.49', '15.5', '14.6', '14.5', '14.49', '25', '0'].map((x) => m.next(d(x), st));
    expect(seq).toEqual(['2', '2', '2', '2', '3', '3', '3', '2', '4', '1']);
  });

  it('linear: clamped, rounded to the step, recomputed only past the hysteresis', () => {
    const m = new ControlMap({ table: [], linear: { inMin: '8', inMax: '22', outMin: '1', outMax: '4', step: '1' }, hysteresis: '0' });
    expect(['0', '8', '10', '12.6', '15', '22', '30'].map((x) => m.next(d(x), {}))).toEqual(['1', '1', '1', '2', '3', '4', '4']);
    const fine = new ControlMap({
      table: [],
      linear: { inMin: '0', inMax: '100', outMin: '20', outMax: '10', step: '0.25' },
      hysteresis: '2',
    });
    const st: MapState = {};
    expect(['50', '51.9', '52.1', '0'].map((x) => fine.next(d(x), st))).toEqual(['15', '15', '14.75', '20']);
  });
});

const rule = (over: Partial<CompiledControl> = {}): CompiledControl => ({
  nodeId: 'c1',
  name: 'cycle',
  devices: 'p-*',
  input: 'hardness',
  output: 'cycle',
  table,
  hysteresis: '0.5',
  minIntervalMs: 1000,
  matched: ['p-1'],
  ...over,
});

const reading = (hardness: string, cycle?: string) => ({
  device: 'p-1',
  at: '2026-12-07T12:00:00.000Z',
  points: { hardness: { value: hardness, unit: 'dH' }, ...(cycle === undefined ? {} : { cycle: { value: cycle, unit: '' } }) },
});

function rig(fail: () => Error | null = () => null) {
  let now = 1_000_000;
  const writes: string[] = [];
  const events: LedgerEvent[] = [];
  const loop = new ControlLoop({
    write: async (_device, _point, value) => {
      writes.push(value);
      const err = fail();
      if (err) throw err;
      return { value };
    },
    record: (e) => events.push(...e),
    log: silentLogger(),
    now: () => now,
    retry: { baseMs: 100, capMs: 400 },
  });
  return { loop, writes, events, advance: (ms: number) => (now += ms) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('ControlLoop', () => {
  afterEach(() => jest.useRealTimers());

  it('writes once per change, keeps the minimum interval, writes back a setpoint changed on the device', async () => {
    const { loop, writes, events, advance } = rig();
    loop.setControls([rule()]);
    loop.observe(reading('8.0', '1')); // row 1, the device has 1: nothing
    loop.observe(reading('12.0', '1'));
    await flush();
    expect(writes).toEqual(['2']);
    expect(events).toEqual([
      expect.objectContaining({
        kind: 'control',
        device: 'p-1',
        point: 'cycle',
        detail: expect.objectContaining({ inputValue: '12.0', from: '1', to: '2', confirmed: '2', attempts: 1 }),
      }),
    ]);
    loop.observe(reading('16.0', '2')); // due, but within 1000 ms of the last write
    await flush();
    expect(writes).toEqual(['2']);
    advance(1000);
    loop.observe(reading('16.0', '2'));
    await flush();
    expect(writes).toEqual(['2', '3']);
    advance(5000);
    loop.observe(reading('16.0', '3'));
    loop.observe(reading('16.0', '1')); // changed by hand on the device
    await flush();
    expect(writes).toEqual(['2', '3', '3']);
    expect(events.map((e) => [e.detail.from, e.detail.to])).toEqual([
      ['1', '2'],
      ['2', '3'],
      ['1', '3'],
    ]);
  });

  it('retries a failed write with backoff and raises control-failed on the 1st, 2nd, 4th … failure', async () => {
    jest.useFakeTimers();
    let failing = true;
    const { loop, writes, events } = rig(() => (failing ? new Error('read-back mismatch') : null));
    loop.setControls([rule()]);
    loop.observe(reading('12.0', '1'));
    for (let i = 0; i < 5; i++) {
      await Promise.resolve();
      await Promise.resolve();
      jest.advanceTimersByTime(400);
    }
    await Promise.resolve();
    expect(writes.length).toBeGreaterThanOrEqual(5);
    const failed = events.filter((e) => e.kind === 'control-failed');
    expect(failed.map((e) => e.detail.attempt)).toEqual([1, 2, 4]);
    expect(failed[0]).toMatchObject({ device: 'p-1', point: 'cycle', detail: { to: '2', error: 'read-back mismatch', policy: 'c1' } });
    failing = false;
    jest.advanceTimersByTime(400);
    await Promise.resolve();
    await Promise.resolve();
    const ok = events.filter((e) => e.kind === 'control');
    expect(ok).toEqual([
      expect.objectContaining({ detail: expect.objectContaining({ to: '2', confirmed: '2', attempts: writes.length }) }),
    ]);
    loop.stop();
  });

  it('a redeploy that changes the node does not wait for a write of the old one', async () => {
    const writes: string[] = [];
    let hang = true;
    const loop = new ControlLoop({
      write: (_d, _p, value) => {
        writes.push(value);
        return hang ? new Promise(() => undefined) : Promise.resolve({ value });
      },
      record: () => undefined,
      log: silentLogger(),
    });
    loop.setControls([rule()]);
    loop.observe(reading('12.0', '1')); // this write never answers
    hang = false;
    loop.setControls([rule({ hysteresis: '0.2' })]);
    loop.observe(reading('16.0', '1'));
    await flush();
    expect(writes).toEqual(['2', '3']);
    loop.stop();
  });
});
