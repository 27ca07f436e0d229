/**
 * Writes to points, for the API, the Node-RED bridge and the policies
 * (cut-off, control): resolves the device and point from the config, checks
 * the point may be written, and hands the write to the device's poller, which
 * queues it on the bus with the polls and confirms it by reading it back.
 *
 * Throws this area's errors (poll/errors.ts), the encoding errors of
 * devices/errors.ts (`EncodeError`) and link errors unchanged; the API maps
 * them to HTTP answers (daemon/api-backend.ts).
 */
import type { LoadedDevice } from '../config/load';
import type { WriteValue } from '../devices/encode';
import type { DevicePoller } from './device-poller';
import { PointNotFoundError, PointNotWritableError } from './errors';

export type WriteResult = { value: string | boolean };

export class PointWriter {
  private readonly devices: ReadonlyMap<string, LoadedDevice>;

  constructor(
    devices: readonly LoadedDevice[],
    private readonly pollerOf: (device: string) => DevicePoller | undefined,
  ) {
    this.devices = new Map(devices.map((d) => [d.id, d]));
  }

  /** The configured point, or undefined. */
  point(device: string, point: string) {
    return this.devices.get(device)?.points.find((p) => p.name === point);
  }

  async write(device: string, point: string, value: WriteValue): Promise<WriteResult> {
    const p = this.point(device, point);
    if (!p) throw new PointNotFoundError(device, point);
    if (!p.writable) throw new PointNotWritableError(device, point, 'not marked writable', false);
    const poller = this.pollerOf(device);
    if (!poller) throw new PointNotWritableError(device, point, 'device is not polled by this gateway');
    const res = await poller.write(point, value);
    return { value: res.value };
  }
}
