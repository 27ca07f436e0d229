/**
 * What a stream client asked for and may see: topics, device and channel
 * globs (`purifier-*`), and for buyer principals (§7) the points they were
 * granted. Used by stream.ts for every message.
 *
 * Globs are matched by policy/glob.ts in linear time (no regular
 * expressions), and each client remembers its answer per device or channel
 * name (names are few: the configured devices and channels), so a
 * subscription costs at most one match per pattern and name. A buyer's
 * grants are checked before its own globs: a device it bought nothing of is
 * never matched against what it sent.
 */
import type { BuyerGrant, Principal } from './auth';
import type { ReadingMessage } from '../events';
import { BadRequestError, ForbiddenError } from './errors';
import { compileGlob, type GlobMatcher } from '../policy/glob';

export const TOPICS = ['readings', 'events', 'vouchers'] as const;
export type Topic = (typeof TOPICS)[number];

const MAX_PATTERNS = 64;
const MAX_PATTERN_LENGTH = 128;
/** Names remembered per filter; past this the memo starts over (bounded memory whatever the names). */
const MEMO_LIMIT = 4096;

/** A set of globs with a memo of the names already decided. */
export class NameFilter {
  private readonly matchers: GlobMatcher[];
  private readonly memo = new Map<string, boolean>();
  constructor(readonly patterns: readonly string[]) {
    this.matchers = patterns.map(compileGlob);
  }

  test(name: string): boolean {
    let hit = this.memo.get(name);
    if (hit === undefined) {
      hit = this.matchers.some((m) => m(name));
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(name, hit);
    }
    return hit;
  }
}

export interface Subscription {
  topics: Set<Topic>;
  /** null = every device / channel. */
  devices: NameFilter | null;
  channels: NameFilter | null;
  /** What the server confirms in its `subscribed` message. */
  echo: { type: 'subscribed'; topics: Topic[]; devices: string[]; channels: string[] };
}

/** Nothing until the client subscribes. */
export const NO_SUBSCRIPTION: Subscription = {
  topics: new Set(),
  devices: null,
  channels: null,
  echo: { type: 'subscribed', topics: [], devices: [], channels: [] },
};

/** Check a `{"type":"subscribe",…}` message; 400 naming the field, 403 for topics a buyer may not have. */
export function parseSubscribe(msg: Record<string, unknown>, principal: Principal): Subscription {
  const topics = msg.topics;
  if (!Array.isArray(topics) || topics.length === 0) {
    throw new BadRequestError('topics', `expected a non-empty array of ${TOPICS.join(', ')}`);
  }
  const set = new Set<Topic>();
  for (const t of topics) {
    if (!TOPICS.includes(t as Topic)) throw new BadRequestError('topics', `unknown topic ${JSON.stringify(t)}`);
    set.add(t as Topic);
  }
  if (principal.kind === 'buyer' && (set.has('events') || set.has('vouchers'))) {
    throw new ForbiddenError('buyer tokens may subscribe to readings only');
  }
  if (principal.kind === 'payee' && (set.has('events') || set.has('readings'))) {
    throw new ForbiddenError('payee tokens may subscribe to vouchers only (of their own channels)');
  }
  const devices = patterns(msg.devices, 'devices');
  const channels = patterns(msg.channels, 'channels');
  return {
    topics: set,
    devices: devices && new NameFilter(devices),
    channels: channels && new NameFilter(channels),
    echo: { type: 'subscribed', topics: [...set], devices: devices ?? ['*'], channels: channels ?? ['*'] },
  };
}

function patterns(v: unknown, field: string): string[] | null {
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_PATTERNS) {
    throw new BadRequestError(field, `expected an array of 1..${MAX_PATTERNS} glob patterns`);
  }
  for (const p of v) {
    if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATTERN_LENGTH) {
      throw new BadRequestError(field, `each pattern must be a string of 1..${MAX_PATTERN_LENGTH} characters`);
    }
  }
  return v as string[];
}

/** True when `name` passes the filter (null = everything). */
export function matchesAny(filter: NameFilter | null, name: string): boolean {
  return filter === null || filter.test(name);
}

/** What a buyer was granted, by device: the point names it may see (memoised per device). */
export class CompiledGrants {
  private readonly grants: Array<{ device: GlobMatcher; point: string }>;
  private readonly memo = new Map<string, ReadonlySet<string>>();
  constructor(grants: readonly BuyerGrant[]) {
    this.grants = grants.map((g) => ({ device: compileGlob(g.devices), point: g.point }));
  }

  get empty(): boolean {
    return this.grants.length === 0;
  }

  /** The granted point names of `device` (an empty set when none). */
  pointsOf(device: string): ReadonlySet<string> {
    let points = this.memo.get(device);
    if (points === undefined) {
      points = new Set(this.grants.filter((g) => g.device(device)).map((g) => g.point));
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(device, points);
    }
    return points;
  }
}

export const NO_GRANTS = new CompiledGrants([]);

export function compileGrants(grants: readonly BuyerGrant[]): CompiledGrants {
  return new CompiledGrants(grants);
}

/** The part of a reading a buyer may see: only granted points, or null when none. */
export function readingForBuyer(m: ReadingMessage, grants: CompiledGrants): ReadingMessage | null {
  const granted = grants.pointsOf(m.device);
  if (granted.size === 0) return null;
  const points: ReadingMessage['points'] = {};
  let any = false;
  for (const [name, pv] of Object.entries(m.points)) {
    if (granted.has(name)) {
      points[name] = pv;
      any = true;
    }
  }
  return any ? { device: m.device, at: m.at, points } : null;
}
