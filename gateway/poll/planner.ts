/**
 * ReadPlanner: a device's points -> as few Modbus read requests as the
 * limits allow (docs/architecture.md §9).
 *
 * Per area, points are sorted by address (wider first on a tie) and merged
 * greedily: a point joins the open request when the unused registers between
 * them are at most `maxGap` (gap fill: reading a few unused registers is
 * cheaper than another round trip) and the request stays within
 * `maxRegisters` (holding/input) or `maxBits` (coil/discrete); `maxGap` is
 * counted in registers or bits accordingly. Overlapping points (a uint32 at 0
 * and a uint16 at 1) share one request. Every point is read exactly once.
 * A single point wider than the limit is planned alone (it cannot be split);
 * config validation keeps strings within one Modbus request.
 *
 * Learning: a merged request answered with exception 02/03 is split by the
 * poller with `splitRequest` (halves by points, spans re-tightened) and the
 * poller replans the device with smaller limits (see device-poller.ts).
 */
import type { ResolvedPoint } from '../devices/point';
import { pointWidth } from '../devices/point';
import type { Area } from '../links/link';

export interface PlanLimits {
  /** Registers per holding/input request (Modbus allows 125). */
  maxRegisters: number;
  /** Bits per coil/discrete request (Modbus allows 2000). */
  maxBits: number;
  /** Largest run of unused registers/bits a request may read to join two points. */
  maxGap: number;
}

export const DEFAULT_PLAN_LIMITS: Readonly<PlanLimits> = Object.freeze({ maxRegisters: 125, maxBits: 2000, maxGap: 8 });

export interface PlannedPoint {
  point: ResolvedPoint;
  /** Position of the point's first register/bit within the request's data. */
  offset: number;
  /** Registers (or bits) the point occupies. */
  width: number;
}

export interface ReadRequest {
  area: Area;
  address: number;
  count: number;
  points: PlannedPoint[];
}

const AREA_ORDER: Area[] = ['holding', 'input', 'coil', 'discrete'];

export const isBitArea = (a: Area): boolean => a === 'coil' || a === 'discrete';

export function limitFor(area: Area, limits: PlanLimits): number {
  return isBitArea(area) ? limits.maxBits : limits.maxRegisters;
}

/** A request spanning exactly the given points. */
export function requestFor(area: Area, members: ReadonlyArray<{ point: ResolvedPoint; width: number }>): ReadRequest {
  const start = Math.min(...members.map((m) => m.point.address));
  const end = Math.max(...members.map((m) => m.point.address + m.width));
  return {
    area,
    address: start,
    count: end - start,
    points: members.map((m) => ({ point: m.point, width: m.width, offset: m.point.address - start })),
  };
}

export function planReads(points: readonly ResolvedPoint[], opts: Partial<PlanLimits> = {}): ReadRequest[] {
  const limits: PlanLimits = { ...DEFAULT_PLAN_LIMITS, ...opts };
  if (!(limits.maxRegisters >= 1 && limits.maxBits >= 1 && limits.maxGap >= 0)) {
    throw new RangeError(`invalid plan limits ${JSON.stringify(limits)}`);
  }
  const requests: ReadRequest[] = [];
  for (const area of AREA_ORDER) {
    const limit = limitFor(area, limits);
    const members = points
      .filter((p) => p.area === area)
      .map((point) => ({ point, width: pointWidth(point) }))
      .sort((a, b) => a.point.address - b.point.address || b.width - a.width);
    let open: Array<{ point: ResolvedPoint; width: number }> = [];
    let start = 0;
    let end = 0;
    for (const m of members) {
      const mEnd = m.point.address + m.width;
      if (open.length > 0 && m.point.address - end <= limits.maxGap && Math.max(end, mEnd) - start <= limit) {
        open.push(m);
        end = Math.max(end, mEnd);
        continue;
      }
      if (open.length > 0) requests.push(requestFor(area, open));
      open = [m];
      start = m.point.address;
      end = mEnd;
    }
    if (open.length > 0) requests.push(requestFor(area, open));
  }
  return requests;
}

/** Split a merged request in two halves by points (in address order). Throws on a single-point request. */
export function splitRequest(req: ReadRequest): [ReadRequest, ReadRequest] {
  if (req.points.length < 2) throw new RangeError('a single-point request cannot be split');
  const sorted = [...req.points].sort((a, b) => a.point.address - b.point.address || b.width - a.width);
  const half = Math.ceil(sorted.length / 2);
  return [requestFor(req.area, sorted.slice(0, half)), requestFor(req.area, sorted.slice(half))];
}

/** Registers/bits a request reads that no point uses. */
export function unusedCount(req: ReadRequest): number {
  const used = new Uint8Array(req.count);
  for (const p of req.points) used.fill(1, p.offset, p.offset + p.width);
  return used.reduce((n, u) => n + (u ? 0 : 1), 0);
}

/** Longest run of registers/bits inside a request that no point uses (its largest gap). */
export function largestGap(req: ReadRequest): number {
  const used = new Uint8Array(req.count);
  for (const p of req.points) used.fill(1, p.offset, p.offset + p.width);
  let best = 0;
  let run = 0;
  for (const u of used) {
    run = u ? 0 : run + 1;
    if (run > best) best = run;
  }
  return best;
}

/** The slice of a request's data that belongs to one planned point. */
export function sliceFor<T extends Uint16Array | readonly boolean[]>(data: T, pp: PlannedPoint): T {
  return data.slice(pp.offset, pp.offset + pp.width) as T;
}
