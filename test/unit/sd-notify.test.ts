/** sd_notify: readiness, the watchdog fed from the event loop, and no-ops outside systemd. */
import { SdNotifier, watchdogIntervalMs } from '../../gateway/base/sd-notify';

function recorder() {
  const sent: string[][] = [];
  const warnings: string[] = [];
  return {
    sent,
    warnings,
    log: { warn: (_o: object, msg: string) => warnings.push(msg) },
    send: async (fields: readonly string[]) => {
      sent.push([...fields]);
    },
  };
}

const SYSTEMD = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' };

describe('watchdogIntervalMs', () => {
  test('half of WATCHDOG_USEC, in ms', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 1)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '1000' }, 1)).toBe(1); // never 0
  });

  test('none when unset, malformed, or meant for another process', () => {
    expect(watchdogIntervalMs({}, 1)).toBeNull();
    for (const usec of ['', '0', '-5', '1e6', '30s', ' 100']) expect(watchdogIntervalMs({ WATCHDOG_USEC: usec }, 1)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: '7' }, 8)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: '8' }, 8)).toBe(500);
  });
});

describe('SdNotifier', () => {
  afterEach(() => jest.useRealTimers());

  test('outside systemd (no NOTIFY_SOCKET) nothing is sent and no timer runs', async () => {
    jest.useFakeTimers();
    const r = recorder();
    const n = new SdNotifier(r.log, { env: { WATCHDOG_USEC: '1000000' }, pid: 1, send: r.send });
    expect(n.enabled).toBe(false);
    expect(n.watchdogMs).toBeNull();
    await n.ready('API http://127.0.0.1:8080');
    await n.status('x');
    await n.stopping();
    jest.advanceTimersByTime(60_000);
    expect(r.sent).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('READY=1 with a one-line status, then WATCHDOG=1 every half WatchdogSec, STOPPING=1 ends it', async () => {
    jest.useFakeTimers();
    const r = recorder();
    const n = new SdNotifier(r.log, { env: SYSTEMD, pid: 4242, send: r.send });
    expect(n.watchdogMs).toBe(15_000);
    await n.ready('API http://127.0.0.1:8080\n(editor at /admin)');
    expect(r.sent).toEqual([['READY=1', 'STATUS=API http://127.0.0.1:8080 (editor at /admin)']]);

    await jest.advanceTimersByTimeAsync(14_999);
    expect(r.sent).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(r.sent[1]).toEqual(['WATCHDOG=1']);
    await jest.advanceTimersByTimeAsync(45_000);
    expect(r.sent.filter((f) => f[0] === 'WATCHDOG=1')).toHaveLength(4);

    await n.stopping();
    expect(r.sent.at(-1)).toEqual(['STOPPING=1']);
    const before = r.sent.length;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(r.sent).toHaveLength(before); // no watchdog after a stop began
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a stalled event loop starves the watchdog: pings come from a timer on the loop', async () => {
    const at: number[] = [];
    const n = new SdNotifier(
      { warn: () => undefined },
      {
        env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '100000' }, // WatchdogSec=100ms: a ping every 50 ms
        pid: 1,
        send: async (fields) => {
          if (fields[0] === 'WATCHDOG=1') at.push(Date.now());
        },
      },
    );
    await n.ready();
    // the loop runs: pings come (wait for two, however loaded the machine is)
    for (let waited = 0; at.length < 2 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    // start the stall on a later millisecond than the last ping, so "before" and "during" cannot tie
    while (Date.now() <= at[at.length - 1]!) {
      // spin for at most a millisecond
    }
    const stallStart = Date.now();
    while (Date.now() - stallStart < 400) {
      // the loop is stuck: no timer can run
    }
    const stallEnd = Date.now();
    for (let waited = 0; !at.some((t) => t >= stallEnd) && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    n.stopWatchdog();
    expect(at.filter((t) => t < stallStart).length).toBeGreaterThanOrEqual(2);
    expect(at.filter((t) => t >= stallStart && t < stallEnd)).toEqual([]);
    expect(at.filter((t) => t >= stallEnd).length).toBeGreaterThanOrEqual(1); // fed again once the loop runs
  });

  test('no pile-up: a ping still on its way skips the next tick', async () => {
    jest.useFakeTimers();
    const calls: string[][] = [];
    let release: () => void = () => undefined;
    const slow = (fields: readonly string[]) => {
      calls.push([...fields]);
      return fields[0] === 'WATCHDOG=1' ? new Promise<void>((res) => (release = res)) : Promise.resolve();
    };
    const n = new SdNotifier({ warn: () => undefined }, { env: SYSTEMD, pid: 4242, send: slow });
    await n.ready();
    await jest.advanceTimersByTimeAsync(15_000 * 3);
    expect(calls.filter((f) => f[0] === 'WATCHDOG=1')).toHaveLength(1);
    release();
    await jest.advanceTimersByTimeAsync(15_000);
    expect(calls.filter((f) => f[0] === 'WATCHDOG=1')).toHaveLength(2);
    n.stopWatchdog();
  });

  test('a failing sender is logged once and never throws', async () => {
    jest.useFakeTimers();
    const warnings: string[] = [];
    const n = new SdNotifier(
      { warn: (_o, msg) => warnings.push(msg) },
      { env: SYSTEMD, pid: 4242, send: () => Promise.reject(new Error('spawn systemd-notify ENOENT')) },
    );
    await expect(n.ready()).resolves.toBeUndefined();
    await jest.advanceTimersByTimeAsync(60_000);
    await expect(n.stopping()).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/systemd notification failed/);
  });

  test('the default sender reports a missing systemd-notify as a warning, not a crash', async () => {
    const warnings: string[] = [];
    const n = new SdNotifier(
      { warn: (_o, msg) => warnings.push(msg) },
      { env: SYSTEMD, pid: process.pid, command: '/nonexistent/systemd-notify' },
    );
    await n.ready();
    n.stopWatchdog();
    expect(warnings).toHaveLength(1);
  });
});
