/**
 * Shared helpers of the link wire tests: build points, and await poller /
 * link events (no sleeps: every wait is for an event, bounded by a timeout
 * that only turns a hang into a clear failure).
 */
import type { EventEmitter } from 'node:events';
import { pointWith, type ResolvedPoint } from '../../gateway/devices/point';
import type { DevicePoller, DeviceReadings, DeviceState, DeviceStateChange } from '../../gateway/poll/device-poller';

export const pt = (name: string, over: Partial<ResolvedPoint>): ResolvedPoint => pointWith(name, over);

/** Resolves with the first event payload matching `pred`. */
export function nextEvent<T>(em: EventEmitter, event: string, pred: (x: T) => boolean = () => true, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      em.removeListener(event, on);
      reject(new Error(`no matching '${event}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (x: T) => {
      if (!pred(x)) return;
      clearTimeout(timer);
      em.removeListener(event, on);
      resolve(x);
    };
    em.on(event, on);
  });
}

export function untilState(poller: DevicePoller, state: DeviceState): Promise<unknown> {
  if (poller.state === state) return Promise.resolve();
  return nextEvent<DeviceStateChange>(poller, 'state', (s) => s.state === state);
}

export const untilReadings = (poller: DevicePoller, pred: (r: DeviceReadings) => boolean = () => true) =>
  nextEvent<DeviceReadings>(poller, 'readings', pred);

export const valueOf = (r: DeviceReadings, name: string) => r.values.find((v) => v.point.name === name)?.decoded;

/** Resolves after `n` more 'readings' events matching `pred`. */
export async function readingsCount(poller: DevicePoller, n: number, pred: (r: DeviceReadings) => boolean = () => true) {
  const seen: DeviceReadings[] = [];
  while (seen.length < n) seen.push(await untilReadings(poller, pred));
  return seen;
}
