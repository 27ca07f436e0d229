/**
 * What the API shows of each device (docs/architecture.md §8 GET /api/devices): its state,
 * when it was last read, and the last value of every point.
 *
 * A polled device's values live in its poller's DeviceFrame (gateway/poll/
 * device-frame.ts), attached here once: a view is built from it only when the
 * API asks, so a poll updates no view object and formats no value or time.
 * Devices that push their values (DSMR P1) set them with `setValue`.
 */
import type { DeviceView, PointView } from '../api/backend';
import type { DeviceFrame } from '../poll/device-frame';
import type { DeviceState } from '../poll/device-poller';

interface Entry {
  id: string;
  link: string;
  state: DeviceState;
  units: ReadonlyArray<{ name: string; unit: string }>;
  /** Values set one by one (pushed devices). */
  points: Record<string, PointView>;
  lastReadMs: number | null;
  frame: DeviceFrame | null;
}

/** A device's state and last read without its values (what /metrics needs). */
export interface DeviceSummary {
  id: string;
  state: DeviceState;
  /** Epoch ms of the last read, null before the first. */
  lastReadMs: number | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class DeviceViews {
  private readonly entries = new Map<string, Entry>();

  add(id: string, link: string, points: Array<{ name: string; unit: string }>): void {
    const pv: Record<string, PointView> = {};
    for (const p of points) pv[p.name] = { value: null, unit: p.unit, at: null };
    // A device starts offline until its first successful read.
    this.entries.set(id, {
      id,
      link,
      state: 'offline',
      units: points.map((p) => ({ name: p.name, unit: p.unit })),
      points: pv,
      lastReadMs: null,
      frame: null,
    });
  }

  /** Show a polled device's values from its frame from now on. */
  attach(id: string, frame: DeviceFrame): void {
    const e = this.entries.get(id);
    if (e) e.frame = frame;
  }

  setState(id: string, state: DeviceState): void {
    const e = this.entries.get(id);
    if (e) e.state = state;
  }

  setValue(id: string, point: string, value: string | boolean, tsMs: number): void {
    const e = this.entries.get(id);
    if (!e) return;
    const p = e.points[point];
    if (p) {
      p.value = value;
      p.at = iso(tsMs);
    }
    e.lastReadMs = tsMs;
  }

  get(id: string): DeviceView | undefined {
    const e = this.entries.get(id);
    return e ? view(e) : undefined;
  }

  /** The device's state (cheap: no view is built). */
  stateOf(id: string): DeviceState | undefined {
    return this.entries.get(id)?.state;
  }

  list(): DeviceView[] {
    return [...this.entries.values()].map(view);
  }

  summaries(): DeviceSummary[] {
    return [...this.entries.values()].map((e) => ({
      id: e.id,
      state: e.state,
      lastReadMs: e.frame ? (e.frame.hasRead ? e.frame.lastReadMs : null) : e.lastReadMs,
    }));
  }
}

function view(e: Entry): DeviceView {
  const f = e.frame;
  if (!f)
    return {
      id: e.id,
      link: e.link,
      state: e.state,
      lastReadAt: e.lastReadMs === null ? null : iso(e.lastReadMs),
      points: clonePoints(e.points),
    };
  const points: Record<string, PointView> = {};
  for (const u of e.units) {
    const i = f.indexOf.get(u.name);
    points[u.name] =
      i !== undefined && f.hasValue(i) ? { value: f.value(i), unit: u.unit, at: iso(f.at[i]!) } : { value: null, unit: u.unit, at: null };
  }
  return { id: e.id, link: e.link, state: e.state, lastReadAt: f.hasRead ? iso(f.lastReadMs) : null, points };
}

function clonePoints(points: Record<string, PointView>): Record<string, PointView> {
  const out: Record<string, PointView> = {};
  for (const [k, v] of Object.entries(points)) out[k] = { ...v };
  return out;
}
