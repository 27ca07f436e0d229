/**
 * What the API shows of each device (DESIGN.md §8 GET /api/devices): its state,
 * when it was last read, and the last value of every point. Fed by the pollers.
 */
import type { DeviceView, PointView } from '../api/backend';
import type { DeviceState } from '../poll/device-poller';

export class DeviceViews {
  private readonly views = new Map<string, DeviceView>();

  add(id: string, link: string, points: Array<{ name: string; unit: string }>): void {
    const pv: Record<string, PointView> = {};
    for (const p of points) pv[p.name] = { value: null, unit: p.unit, at: null };
    // A device starts offline until its first successful read.
    this.views.set(id, { id, link, state: 'offline', lastReadAt: null, points: pv });
  }

  setState(id: string, state: DeviceState): void {
    const v = this.views.get(id);
    if (v) v.state = state;
  }

  setValue(id: string, point: string, value: string | boolean, tsMs: number): void {
    const v = this.views.get(id);
    if (!v) return;
    const at = new Date(tsMs).toISOString();
    const p = v.points[point];
    if (p) {
      p.value = value;
      p.at = at;
    }
    v.lastReadAt = at;
  }

  get(id: string): DeviceView | undefined {
    return this.views.get(id);
  }

  list(): DeviceView[] {
    return [...this.views.values()];
  }
}
