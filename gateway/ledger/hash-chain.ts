/**
 * The ledger's hash chain.
 *
 *   hash(seq) = sha256( bytes(prevHash) ‖ utf8(canonical body) )
 *
 * `prevHash` is the previous commit's hash as 32 raw bytes (64 hex zeros for
 * the first). The body is RFC 8785 canonical JSON (the `canonicalize`
 * package), bigints as decimal strings. It is compact (docs/ledger.md,
 * "Chain"): what is frequent enters as digests and sums, what is rare in full.
 *
 *  - state: sha256 digests of the state the commit leaves: the packed
 *    per-device core state (slots, remainders, open hours) and the accounts
 *    (state-digest.ts);
 *  - accrued: the quantity and money this commit added to the totals;
 *  - metered: how many readings, deltas and accruals it summarises;
 *  - closed: in full, every (line, hour) amount it moved from an open hour
 *    into the hourly table (at each hour end; a late reading adds to its hour);
 *  - lines: in full, the ledger lines it created (id, device, point, account, payee);
 *  - events, vouchers, a policy change: in full;
 *  - migration: on the commit that migrated a v1 ledger (migrate-v1.ts).
 *
 * `seq` is inside the body, so a body cannot be moved in the chain. Bodies of
 * a migrated ledger's v1 batches stay as they were (body-v1.ts).
 *
 * Storage (not hashed): bodies are kept raw-deflated (packText).
 */
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import canonicalize from 'canonicalize';
import type { EventDetailValue, LedgerEvent, LedgerMetered, LedgerPolicy, LedgerVoucher } from './store';

export const GENESIS_HASH = '0'.repeat(64);
export const BODY_VERSION = 2;

export interface BodyEvent {
  account?: string;
  detail: Record<string, EventDetailValue>;
  device?: string;
  kind: string;
  point?: string;
  tsMs: number;
}
export interface BodyVoucher {
  amountNano: string;
  channel: string;
  issuedAtMs: number;
  json: string;
  seq: number;
}
export interface BodyPolicy {
  flowsJson: string;
  hash: string;
  version: number;
}
/** [line id, hour start, quantity micro, amount nano] */
export type BodyClosed = [number, number, string, string];
/** [line id, device, point, account, payee] */
export type BodyLine = [number, string, string, string, string];
export interface BodyMigration {
  fromSchema: number;
  /** Raw readings the v1 ledger still held, dropped by the migration (the backup keeps them). */
  readingsDropped: number;
  /** The last v1 batch. */
  throughSeq: number;
}

/** The hashed form of one commit. */
export interface CommitBody {
  accrued: { amountNano: string; quantityMicro: string };
  atMs: number;
  closed: BodyClosed[];
  events: BodyEvent[];
  lines: BodyLine[];
  metered: { accruals: number; deltas: number; readings: number };
  migration: BodyMigration | null;
  policy: BodyPolicy | null;
  policyVersion: number;
  seq: number;
  state: { accounts: string; devices: string };
  v: 2;
  vouchers: BodyVoucher[];
}

/** What a commit body records, typed (input of toBody). */
export interface CommitContent {
  atMs: number;
  policyVersion: number;
  accruedQtyMicro: bigint;
  accruedNano: bigint;
  metered: LedgerMetered;
  closed: Array<{ lineId: number; hourMs: number; quantityMicro: bigint; amountNano: bigint }>;
  lines: Array<{ id: number; device: string; point: string; account: string; payee: string }>;
  events: readonly LedgerEvent[];
  vouchers: readonly LedgerVoucher[];
  policy: LedgerPolicy | null;
  state: { accounts: string; devices: string };
  migration?: BodyMigration | null;
}

function canonical(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON form');
  return text;
}

/** Keys JS objects order numerically ahead of the others: JSON.stringify would not sort them as RFC 8785 does. */
const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/** The event detail with its keys inserted in sorted (UTF-16 code unit) order (no prototype: "__proto__" stays a key). */
function sortedDetail(detail: Record<string, EventDetailValue>): Record<string, EventDetailValue> {
  const out = Object.create(null) as Record<string, EventDetailValue>;
  for (const k of Object.keys(detail).sort()) out[k] = detail[k];
  return out;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function eventBody(e: LedgerEvent): BodyEvent {
  // Keys in RFC 8785 order: account, detail, device, kind, point, tsMs.
  const out = {} as BodyEvent;
  if (e.account !== undefined) out.account = e.account;
  out.detail = sortedDetail(e.detail);
  if (e.device !== undefined) out.device = e.device;
  out.kind = e.kind;
  if (e.point !== undefined) out.point = e.point;
  out.tsMs = e.tsMs;
  return out;
}

/** The body of commit `seq`. Every object literal lists its keys in RFC 8785 (sorted) order, so encodeBody can use JSON.stringify. */
export function toBody(seq: number, c: CommitContent): CommitBody {
  const closed = c.closed
    .map((x): BodyClosed => [x.lineId, x.hourMs, x.quantityMicro.toString(), x.amountNano.toString()])
    .sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  return {
    accrued: { amountNano: c.accruedNano.toString(), quantityMicro: c.accruedQtyMicro.toString() },
    atMs: c.atMs,
    closed,
    events: c.events.map(eventBody),
    lines: c.lines.map((l): BodyLine => [l.id, l.device, l.point, l.account, l.payee]).sort((a, b) => a[0] - b[0]),
    metered: { accruals: c.metered.accruals, deltas: c.metered.deltas, readings: c.metered.readings },
    migration: c.migration
      ? { fromSchema: c.migration.fromSchema, readingsDropped: c.migration.readingsDropped, throughSeq: c.migration.throughSeq }
      : null,
    policy: c.policy ? { flowsJson: c.policy.flowsJson, hash: c.policy.hash, version: c.policy.version } : null,
    policyVersion: c.policyVersion,
    seq,
    state: { accounts: c.state.accounts, devices: c.state.devices },
    v: BODY_VERSION,
    vouchers: c.vouchers.map((v) => ({
      amountNano: v.amountNano.toString(),
      channel: v.channel,
      issuedAtMs: v.issuedAtMs,
      json: v.json,
      seq: v.seq,
    })),
  };
}

/**
 * RFC 8785 canonical JSON of a body built by toBody: JSON.stringify gives
 * the same bytes as `canonicalize` (~5x faster) because every object there
 * has its keys in sorted order — unless an event detail has an array-index
 * key, which JS objects always put first; then `canonicalize` does it.
 */
export function encodeBody(body: CommitBody): string {
  const indexKey = body.events.some((e) => Object.keys(e.detail).some((k) => INDEX_KEY.test(k)));
  return indexKey ? canonical(body) : JSON.stringify(body);
}

/** Storage form of a body: raw deflate (the hash is over the uncompressed text). */
export function packText(text: string): Buffer {
  return deflateRawSync(Buffer.from(text, 'utf8'), { level: 1 });
}

export function unpackText(data: Buffer): string {
  return inflateRawSync(data).toString('utf8');
}

/** sha256(prevHash bytes ‖ body utf8), hex. */
export function chainHash(prevHash: string, bodyText: string): string {
  return createHash('sha256').update(Buffer.from(prevHash, 'hex')).update(bodyText, 'utf8').digest('hex');
}

/** The typed content of a parsed v2 body (bigints). Throws on a malformed body. */
export function fromBody(body: CommitBody): CommitContent {
  return {
    atMs: body.atMs,
    policyVersion: body.policyVersion,
    accruedQtyMicro: BigInt(body.accrued.quantityMicro),
    accruedNano: BigInt(body.accrued.amountNano),
    metered: { ...body.metered },
    closed: body.closed.map(([lineId, hourMs, q, a]) => ({ lineId, hourMs, quantityMicro: BigInt(q), amountNano: BigInt(a) })),
    lines: body.lines.map(([id, device, point, account, payee]) => ({ id, device, point, account, payee })),
    events: body.events.map((e) => ({ ...e })),
    vouchers: body.vouchers.map((v) => ({ ...v, amountNano: BigInt(v.amountNano) })),
    policy: body.policy,
    state: { ...body.state },
    migration: body.migration,
  };
}
