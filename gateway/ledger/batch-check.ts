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

function fail(path: string, what: string): never {
  throw new LedgerBatchError(`${path}: ${what}`);
}

function name(o: Obj, key: string, path: string, allowEmpty = false): void {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v.length === 0)) fail(`${path}.${key}`, 'must be a non-empty string');
}

function optName(o: Obj, key: string, path: string): void {
  if (o[key] !== undefined) name(o, key, path);
}

function time(o: Obj, key: string, path: string): void {
  if (!Number.isSafeInteger(o[key])) fail(`${path}.${key}`, 'must be an integer (epoch ms)');
}

function big(o: Obj, key: string, path: string, nullable = false): void {
  const v = o[key];
  if (nullable && v === null) return;
  if (typeof v !== 'bigint') fail(`${path}.${key}`, 'must be a bigint');
}

function bool(o: Obj, key: string, path: string): void {
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

function span(o: Obj, path: string): void {
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

function checkDetail(d: unknown, path: string): void {
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
  optList(o, 'usage', 'batch').forEach((u, i) => {
    const p = `usage[${i}]`;
    name(u, 'device', p);
    name(u, 'point', p);
    name(u, 'account', p);
    name(u, 'payee', p, true);
    if (u.payee !== '' && ((u.account as string).includes('>') || (u.payee as string).includes('>')))
      fail(p, 'account and payee must not contain ">"');
    time(u, 'hourMs', p);
    if ((u.hourMs as number) % HOUR_MS !== 0) fail(`${p}.hourMs`, 'must be the start of an hour');
    big(u, 'quantityMicro', p);
    big(u, 'amountNano', p);
  });
  optList(o, 'deltas', 'batch').forEach((d, i) => {
    const p = `deltas[${i}]`;
    name(d, 'device', p);
    name(d, 'point', p);
    name(d, 'account', p);
    big(d, 'qtyMicro', p);
    span(d, p);
  });
  optList(o, 'accruals', 'batch').forEach((a, i) => {
    const p = `accruals[${i}]`;
    name(a, 'device', p);
    name(a, 'point', p);
    name(a, 'account', p);
    name(a, 'payee', p);
    name(a, 'channel', p);
    if ((a.account as string).includes('>') || (a.payee as string).includes('>')) fail(p, 'account and payee must not contain ">"');
    if (a.channel !== channelId(a.account as string, a.payee as string)) fail(`${p}.channel`, 'must be "<account>><payee>"');
    big(a, 'qtyMicro', p);
    big(a, 'amountNano', p);
    big(a, 'priceNano', p);
    span(a, p);
    if (!Number.isSafeInteger(a.policyVersion)) fail(`${p}.policyVersion`, 'must be an integer');
  });
  list(o, 'events', 'batch').forEach((e, i) => {
    const p = `events[${i}]`;
    name(e, 'kind', p);
    optName(e, 'device', p);
    optName(e, 'point', p);
    optName(e, 'account', p);
    time(e, 'tsMs', p);
    checkDetail(e.detail, `${p}.detail`);
  });
  if (b.state === null || typeof b.state !== 'object') fail('batch.state', 'must be an object');
  const st = b.state as unknown as Obj;
  list(st, 'slots', 'state').forEach((s, i) => {
    const p = `state.slots[${i}]`;
    name(s, 'device', p);
    name(s, 'point', p);
    bool(s, 'hasBaseline', p);
    big(s, 'lastRaw', p);
    time(s, 'lastTsMs', p);
    big(s, 'heldRaw', p, true);
    time(s, 'heldTsMs', p);
  });
  list(st, 'lines', 'state').forEach((l, i) => {
    const p = `state.lines[${i}]`;
    name(l, 'device', p);
    name(l, 'point', p);
    name(l, 'account', p);
    name(l, 'payee', p);
    big(l, 'remainder', p);
  });
  list(st, 'accounts', 'state').forEach((a, i) => {
    const p = `state.accounts[${i}]`;
    name(a, 'account', p);
    big(a, 'unsettledNano', p);
    bool(a, 'overLimit', p);
  });
  if (b.vouchers !== undefined)
    list(o, 'vouchers', 'batch').forEach((v, i) => checkVoucher(v as unknown as LedgerVoucher, `vouchers[${i}]`));
  if (b.policy !== undefined) checkPolicy(b.policy, 'batch.policy');
}
