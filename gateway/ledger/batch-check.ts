/**
 * Shape checks on a batch before anything is written: a number where a
 * bigint belongs would silently lose precision, a float time or a NaN in an
 * event would make the canonical encoding non-deterministic. The first bad
 * field throws a LedgerBatchError naming its path.
 */
import { HOUR_MS, channelId, parseChannel } from './batch-aggregates';
import { LedgerBatchError } from './errors';
import type { LedgerBatch, LedgerPolicy, LedgerVoucher } from './store';

type Obj = Record<string, unknown>;

/** The path of a list item, rendered only when a check fails (a commit checks tens of thousands of them). */
class At {
  i = 0;
  constructor(readonly list: string) {}
  toString(): string {
    return `${this.list}[${this.i}]`;
  }
}
type Path = string | At;

function fail(path: Path, what: string): never {
  throw new LedgerBatchError(`${path}: ${what}`);
}

function name(o: Obj, key: string, path: Path, allowEmpty = false): void {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v.length === 0)) fail(`${path}.${key}`, 'must be a non-empty string');
}

function optName(o: Obj, key: string, path: Path): void {
  if (o[key] !== undefined) name(o, key, path);
}

function time(o: Obj, key: string, path: Path): void {
  if (!Number.isSafeInteger(o[key])) fail(`${path}.${key}`, 'must be an integer (epoch ms)');
}

function big(o: Obj, key: string, path: Path, nullable = false): void {
  const v = o[key];
  if (nullable && v === null) return;
  if (typeof v !== 'bigint') fail(`${path}.${key}`, 'must be a bigint');
}

function bool(o: Obj, key: string, path: Path): void {
  if (typeof o[key] !== 'boolean') fail(`${path}.${key}`, 'must be a boolean');
}

function list(o: Obj, key: string, path: string): Obj[] {
  const v = o[key];
  if (!Array.isArray(v)) fail(`${path}.${key}`, 'must be an array');
  return v as Obj[];
}

function optList(o: Obj, key: string, path: string): Obj[] {
  return o[key] === undefined ? [] : list(o, key, path);
}

function span(o: Obj, path: Path): void {
  time(o, 'fromMs', path);
  time(o, 'toMs', path);
  if ((o.fromMs as number) > (o.toMs as number)) fail(path, 'fromMs after toMs');
}

export function checkVoucher(v: LedgerVoucher, path = 'voucher'): void {
  const o = v as unknown as Obj;
  name(o, 'channel', path);
  if (parseChannel(v.channel) === null) fail(`${path}.channel`, 'must be "payer>payee"');
  if (!Number.isSafeInteger(v.seq) || v.seq < 1) fail(`${path}.seq`, 'must be a positive integer');
  big(o, 'amountNano', path);
  if (v.amountNano < 0n) fail(`${path}.amountNano`, 'must not be negative');
  if (typeof v.json !== 'string') fail(`${path}.json`, 'must be a string');
  time(o, 'issuedAtMs', path);
}

export function checkPolicy(p: LedgerPolicy, path = 'policy'): void {
  if (!Number.isSafeInteger(p.version) || p.version < 1) fail(`${path}.version`, 'must be a positive integer');
  const o = p as unknown as Obj;
  name(o, 'hash', path);
  if (typeof p.flowsJson !== 'string') fail(`${path}.flowsJson`, 'must be a string');
}

function checkDetail(d: unknown, path: Path): void {
  if (d === null || typeof d !== 'object' || Array.isArray(d)) fail(path, 'must be an object');
  for (const [k, v] of Object.entries(d as Obj)) {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number' && Number.isFinite(v)) continue;
    fail(`${path}.${k}`, 'must be a string, a finite number, a boolean or null');
  }
}

/** Throws LedgerBatchError on the first malformed field. */
export function checkBatch(b: LedgerBatch): void {
  if (b === null || typeof b !== 'object') fail('batch', 'must be an object');
  const o = b as unknown as Obj;
  time(o, 'atMs', 'batch');
  if (!Number.isSafeInteger(b.policyVersion) || b.policyVersion < 0) fail('batch.policyVersion', 'must be an integer >= 0');
  if (b.metered !== undefined) {
    const m = b.metered as unknown as Obj;
    if (m === null || typeof m !== 'object') fail('batch.metered', 'must be an object');
    for (const k of ['readings', 'deltas', 'accruals']) {
      if (!Number.isSafeInteger(m[k]) || (m[k] as number) < 0) fail(`batch.metered.${k}`, 'must be an integer >= 0');
    }
  }
  const p = new At('usage');
  for (const u of optList(o, 'usage', 'batch')) {
    name(u, 'device', p);
    name(u, 'point', p);
    name(u, 'account', p);
    name(u, 'payee', p, true);
    if (u.payee !== '' && ((u.account as string).includes('>') || (u.payee as string).includes('>'))) {
      fail(p, 'account and payee must not contain ">"');
    }
    time(u, 'hourMs', p);
    if ((u.hourMs as number) % HOUR_MS !== 0) fail(`${p}.hourMs`, 'must be the start of an hour');
    big(u, 'quantityMicro', p);
    big(u, 'amountNano', p);
    p.i++;
  }
  const pd = new At('deltas');
  for (const d of optList(o, 'deltas', 'batch')) {
    name(d, 'device', pd);
    name(d, 'point', pd);
    name(d, 'account', pd);
    big(d, 'qtyMicro', pd);
    span(d, pd);
    pd.i++;
  }
  const pa = new At('accruals');
  for (const a of optList(o, 'accruals', 'batch')) {
    name(a, 'device', pa);
    name(a, 'point', pa);
    name(a, 'account', pa);
    name(a, 'payee', pa);
    name(a, 'channel', pa);
    if ((a.account as string).includes('>') || (a.payee as string).includes('>')) fail(pa, 'account and payee must not contain ">"');
    if (a.channel !== channelId(a.account as string, a.payee as string)) fail(`${pa}.channel`, 'must be "<account>><payee>"');
    big(a, 'qtyMicro', pa);
    big(a, 'amountNano', pa);
    big(a, 'priceNano', pa);
    span(a, pa);
    if (!Number.isSafeInteger(a.policyVersion)) fail(`${pa}.policyVersion`, 'must be an integer');
    pa.i++;
  }
  const pe = new At('events');
  for (const e of list(o, 'events', 'batch')) {
    name(e, 'kind', pe);
    optName(e, 'device', pe);
    optName(e, 'point', pe);
    optName(e, 'account', pe);
    time(e, 'tsMs', pe);
    checkDetail(e.detail, `${pe}.detail`);
    pe.i++;
  }
  if (b.state === null || typeof b.state !== 'object') fail('batch.state', 'must be an object');
  const st = b.state as unknown as Obj;
  const ps = new At('state.slots');
  for (const s of list(st, 'slots', 'state')) {
    name(s, 'device', ps);
    name(s, 'point', ps);
    bool(s, 'hasBaseline', ps);
    big(s, 'lastRaw', ps);
    time(s, 'lastTsMs', ps);
    big(s, 'heldRaw', ps, true);
    time(s, 'heldTsMs', ps);
    ps.i++;
  }
  const pl = new At('state.lines');
  for (const l of list(st, 'lines', 'state')) {
    name(l, 'device', pl);
    name(l, 'point', pl);
    name(l, 'account', pl);
    name(l, 'payee', pl);
    big(l, 'remainder', pl);
    pl.i++;
  }
  const pc = new At('state.accounts');
  for (const a of list(st, 'accounts', 'state')) {
    name(a, 'account', pc);
    big(a, 'unsettledNano', pc);
    bool(a, 'overLimit', pc);
    pc.i++;
  }
  if (b.vouchers !== undefined)
    list(o, 'vouchers', 'batch').forEach((v, i) => checkVoucher(v as unknown as LedgerVoucher, `vouchers[${i}]`));
  if (b.policy !== undefined) checkPolicy(b.policy, 'batch.policy');
}
