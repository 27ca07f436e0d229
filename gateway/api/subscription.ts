/**
 * What a stream client asked for and may see: topics, device and channel
 * globs (`purifier-*`), and for buyer principals (§7) the points they were
 * granted. Pure functions, used by stream.ts for every message.
 */
import type { BuyerGrant, Principal } from './auth';
import type { ReadingMessage } from '../events';
import { BadRequestError, ForbiddenError } from './errors';

export const TOPICS = ['readings', 'events', 'vouchers'] as const;
export type Topic = (typeof TOPICS)[number];

const MAX_PATTERNS = 64;
const MAX_PATTERN_LENGTH = 128;

/** `purifier-*` → /^purifier-.*$/ (`*` any run, `?` one character, the rest literal). */
export function globToRegExp(glob: string): RegExp {
  const src = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${src}$`);
}

export interface Subscription {
  topics: Set<Topic>;
  /** null = every device / channel. */
  devices: RegExp[] | null;
  channels: RegExp[] | null;
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
    devices: devices && devices.map(globToRegExp),
    channels: channels && channels.map(globToRegExp),
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

/** True when `name` matches one of the globs (null = everything). */
export function matchesAny(res: RegExp[] | null, name: string): boolean {
  return res === null || res.some((r) => r.test(name));
}

export type CompiledGrants = Array<{ device: RegExp; point: string }>;

export function compileGrants(grants: readonly BuyerGrant[]): CompiledGrants {
  return grants.map((g) => ({ device: globToRegExp(g.devices), point: g.point }));
}

/** The part of a reading a buyer may see: only granted points, or null when none. */
export function readingForBuyer(m: ReadingMessage, grants: CompiledGrants): ReadingMessage | null {
  const points: ReadingMessage['points'] = {};
  let any = false;
  for (const [name, pv] of Object.entries(m.points)) {
    if (grants.some((g) => g.point === name && g.device.test(m.device))) {
      points[name] = pv;
      any = true;
    }
  }
  return any ? { device: m.device, at: m.at, points } : null;
}
