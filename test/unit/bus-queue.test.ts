import { BusQueue, BusQueues } from '../../gateway/poll/bus-queue';
import { errorCodesOf } from '../../gateway/base/error-codes';

const POLL_ERROR_CODES = errorCodesOf('poll');

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('BusQueue', () => {
  test('bounded: past maxPending waiting transactions a new one is refused, never queued', async () => {
    const q = new BusQueue('tcp:test:bound', { maxPending: 2 });
    const gate = deferred();
    const running = q.run(() => gate.promise);
    await flush();
    const waiting = [q.run(async () => 1), q.run(async () => 2)];
    await expect(q.run(async () => 3)).rejects.toMatchObject({ code: 'GW_ERR_QUEUE_FULL' });
    expect(q.pending).toBe(2);
    gate.resolve();
    await running;
    expect(await Promise.all(waiting)).toEqual([1, 2]);
    expect(await q.run(async () => 4)).toBe(4);
  });

  test('one transaction at a time, FIFO', async () => {
    const q = new BusQueue('tcp:test:1');
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const gates = [deferred(), deferred(), deferred()];
    const jobs = gates.map((g, i) =>
      q.run(async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        log.push(`start ${i}`);
        await g.promise;
        log.push(`end ${i}`);
        running -= 1;
        return i;
      }),
    );
    await flush();
    expect(log).toEqual(['start 0']);
    expect(q.pending).toBe(2);
    gates[2].resolve();
    gates[1].resolve();
    await flush();
    expect(log).toEqual(['start 0']);
    gates[0].resolve();
    expect(await Promise.all(jobs)).toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(maxRunning).toBe(1);
    expect(q.busy).toBe(false);
  });

  test('writes go ahead of pending reads, and stay FIFO among themselves', async () => {
    const q = new BusQueue('tcp:test:2');
    const order: string[] = [];
    const gate = deferred();
    const job = (name: string, wait?: Promise<void>) => async () => {
      order.push(name);
      if (wait) await wait;
    };
    const all = [
      q.run(job('r1', gate.promise)),
      q.run(job('r2')),
      q.run(job('r3')),
      q.run(job('w1'), { priority: 'write' }),
      q.run(job('w2'), { priority: 'write' }),
    ];
    await flush();
    gate.resolve();
    await Promise.all(all);
    expect(order).toEqual(['r1', 'w1', 'w2', 'r2', 'r3']);
  });

  test('a failing transaction fails only its caller', async () => {
    const q = new BusQueue('tcp:test:3');
    const bad = q.run(async () => {
      throw new Error('boom');
    });
    const good = q.run(async () => 'fine');
    await expect(bad).rejects.toThrow('boom');
    await expect(good).resolves.toBe('fine');
  });

  test('different buses run in parallel', async () => {
    const a = new BusQueue('tcp:a:502');
    const b = new BusQueue('tcp:b:502');
    const gate = deferred();
    const blocked = a.run(() => gate.promise);
    await expect(b.run(async () => 'b done')).resolves.toBe('b done');
    gate.resolve();
    await blocked;
  });

  test('registry: one shared queue per bus key; release closes it', async () => {
    const queues = new BusQueues();
    const q1 = queues.for('serial:/dev/ttyTEST0');
    expect(queues.for('serial:/dev/ttyTEST0')).toBe(q1);
    expect(queues.for('serial:/dev/ttyTEST1')).not.toBe(q1);
    queues.release('serial:/dev/ttyTEST0');
    queues.release('serial:/dev/ttyTEST1');
    await expect(q1.run(async () => 1)).rejects.toMatchObject({ code: 'GW_ERR_QUEUE_CLOSED' });
    expect(queues.for('serial:/dev/ttyTEST0')).not.toBe(q1);
    queues.release('serial:/dev/ttyTEST0');
  });

  test('close rejects waiting transactions; the running one finishes', async () => {
    const q = new BusQueue('tcp:test:4');
    const gate = deferred<string>();
    const running = q.run(() => gate.promise);
    const waiting = q.run(async () => 'never');
    await flush();
    q.close();
    await expect(waiting).rejects.toMatchObject({ code: 'GW_ERR_QUEUE_CLOSED' });
    gate.resolve('finished');
    await expect(running).resolves.toBe('finished');
  });

  describe('inter-frame gap', () => {
    beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
    afterEach(() => jest.useRealTimers());

    test('waits the gap after a transaction, not on an idle bus', async () => {
      const q = new BusQueue('serial:/dev/ttyGAP', { interFrameGapMs: 50 });
      const starts: number[] = [];
      const job = async () => {
        starts.push(Date.now());
      };
      const first = q.run(job);
      const second = q.run(job);
      await flush();
      expect(starts).toEqual([1_000_000]); // idle bus: no wait
      await jest.advanceTimersByTimeAsync(49);
      expect(starts).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      await Promise.all([first, second]);
      expect(starts).toEqual([1_000_000, 1_000_050]);
      await jest.advanceTimersByTimeAsync(500);
      await q.run(job); // the bus has been quiet longer than the gap
      expect(starts[2]).toBe(1_000_550);
    });
  });
});

test('poll error codes are unique', () => {
  expect(new Set(POLL_ERROR_CODES).size).toBe(POLL_ERROR_CODES.length);
});
