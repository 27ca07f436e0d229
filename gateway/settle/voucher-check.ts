/**
 * Checking a voucher as a payee would (docs/architecture.md §6), without the gateway's
 * ledger: every field present with its type and format, nothing extra, the
 * channel equal to payer>payee, the payer key 32 bytes of base64url, and the
 * ed25519 signature over the canonical JSON of the other fields. A list of
 * vouchers of one channel must also advance: seq strictly increasing, amount
 * never decreasing, one payer key.
 *
 * Failures name the field: `{ ok: false, field: 'amount', reason: 'amount: …' }`.
 */
import crypto from 'node:crypto';
import { parseDecimal, MONEY_FRAC } from '../base/decimal';
import { fromBase64Url, publicKeyFromRaw } from './keys';
import {
  AMOUNT_PATTERN,
  CHANNEL_SEPARATOR,
  CURRENCY_PATTERN,
  ISSUED_AT_PATTERN,
  LEDGER_HEAD_PATTERN,
  VOUCHER_FIELDS,
  VOUCHER_VERSION,
  signedText,
  type SignedVoucher,
} from './voucher';

export type VoucherCheck = { ok: true; voucher: SignedVoucher } | { ok: false; field: string; reason: string };

export interface VoucherCheckOptions {
  /** Require this payer key (base64url of the raw public key). */
  key?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : (JSON.stringify(v) ?? String(v));

class Invalid {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {}
}

function fail(field: string, message: string): never {
  throw new Invalid(field, `${field}: ${message}`);
}

function text(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') fail(field, `must be a string, got ${show(v)}`);
  if (v.length === 0) fail(field, 'must not be empty');
  return v;
}

/** Structure and format of every field (no signature). */
function checkFields(o: Record<string, unknown>, opts: VoucherCheckOptions): SignedVoucher {
  for (const f of VOUCHER_FIELDS) if (!(f in o)) fail(f, 'missing');
  for (const k of Object.keys(o)) if (!(VOUCHER_FIELDS as readonly string[]).includes(k)) fail(k, 'is not a voucher field');
  if (o.v !== VOUCHER_VERSION) fail('v', `must be ${VOUCHER_VERSION}, got ${show(o.v)}`);

  const channel = text(o, 'channel');
  const payer = text(o, 'payer');
  const payee = text(o, 'payee');
  const parts = channel.split(CHANNEL_SEPARATOR);
  if (parts.length !== 2 || !parts[0] || !parts[1]) fail('channel', `must be "payer${CHANNEL_SEPARATOR}payee", got ${show(channel)}`);
  if (payer.includes(CHANNEL_SEPARATOR)) fail('payer', `must not contain "${CHANNEL_SEPARATOR}"`);
  if (payee.includes(CHANNEL_SEPARATOR)) fail('payee', `must not contain "${CHANNEL_SEPARATOR}"`);
  if (parts[0] !== payer) fail('payer', `${show(payer)} is not the payer of channel ${show(channel)}`);
  if (parts[1] !== payee) fail('payee', `${show(payee)} is not the payee of channel ${show(channel)}`);

  const payerKey = text(o, 'payerKey');
  const raw = fromBase64Url(payerKey);
  if (!raw) fail('payerKey', 'must be base64url without padding');
  if (raw.length !== 32) fail('payerKey', `must decode to 32 bytes (a raw ed25519 public key), got ${raw.length}`);
  if (opts.key !== undefined && payerKey !== opts.key) fail('payerKey', `${show(payerKey)} is not the required key ${show(opts.key)}`);

  const seq = o.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) fail('seq', `must be a positive integer, got ${show(seq)}`);
  const amount = text(o, 'amount');
  if (!AMOUNT_PATTERN.test(amount))
    fail('amount', `must be a decimal string with ${MONEY_FRAC} fraction digits like "12.345000000", got ${show(amount)}`);
  const currency = text(o, 'currency');
  if (!CURRENCY_PATTERN.test(currency)) fail('currency', `must be 3-12 characters A-Z or 0-9 like "NOK", got ${show(currency)}`);
  const ledgerHead = text(o, 'ledgerHead');
  if (!LEDGER_HEAD_PATTERN.test(ledgerHead)) fail('ledgerHead', `must be 64 lowercase hex digits (a sha256), got ${show(ledgerHead)}`);
  const issuedAt = text(o, 'issuedAt');
  const t = Date.parse(issuedAt);
  if (!ISSUED_AT_PATTERN.test(issuedAt) || !Number.isFinite(t) || new Date(t).toISOString() !== issuedAt) {
    fail('issuedAt', `must be an ISO 8601 UTC time like "2026-11-25T12:00:00.000Z", got ${show(issuedAt)}`);
  }
  const sig = text(o, 'sig');
  const sigBytes = fromBase64Url(sig);
  if (!sigBytes) fail('sig', 'must be base64url without padding');
  if (sigBytes.length !== 64) fail('sig', `must decode to 64 bytes (an ed25519 signature), got ${sigBytes.length}`);
  return { v: VOUCHER_VERSION, channel, payer, payee, payerKey, seq, amount, currency, ledgerHead, issuedAt, sig };
}

function checkSignature(v: SignedVoucher): void {
  const key = publicKeyFromRaw(v.payerKey);
  if (!key) fail('payerKey', 'is not a usable ed25519 public key');
  const ok = crypto.verify(null, Buffer.from(signedText(v), 'utf8'), key, fromBase64Url(v.sig)!);
  if (!ok) fail('sig', 'the signature does not match the other fields and payerKey (a field was changed, or another key signed it)');
}

function guard<T>(fn: () => T): T | Invalid {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Invalid) return e;
    throw e;
  }
}

/** Check one voucher (already parsed from JSON). */
export function checkVoucher(value: unknown, opts: VoucherCheckOptions = {}): VoucherCheck {
  const r = guard(() => {
    if (!isRecord(value)) fail('voucher', `must be a JSON object, got ${Array.isArray(value) ? 'an array' : show(value)}`);
    const v = checkFields(value, opts);
    checkSignature(v);
    return v;
  });
  return r instanceof Invalid ? { ok: false, field: r.field, reason: r.reason } : { ok: true, voucher: r };
}

export type VoucherListCheck = { ok: true; vouchers: SignedVoucher[] } | { ok: false; index: number; field: string; reason: string };

/**
 * Check vouchers of one channel in the order given: each one valid, all of the
 * same channel and payer key, seq strictly increasing, amount never decreasing.
 */
export function checkVoucherList(values: unknown[], opts: VoucherCheckOptions = {}): VoucherListCheck {
  if (values.length === 0) return { ok: false, index: -1, field: 'voucher', reason: 'the list holds no vouchers' };
  const out: SignedVoucher[] = [];
  for (let i = 0; i < values.length; i++) {
    const r = checkVoucher(values[i], opts);
    const at = `[${i}]`;
    if (!r.ok) return { ok: false, index: i, field: r.field, reason: `${at}.${r.reason}` };
    const v = r.voucher;
    const prev = out[out.length - 1];
    if (prev) {
      const bad = (field: string, message: string): VoucherListCheck => ({
        ok: false,
        index: i,
        field,
        reason: `${at}.${field}: ${message}`,
      });
      if (v.channel !== prev.channel)
        return bad('channel', `${show(v.channel)} differs from ${show(prev.channel)}: a list holds one channel`);
      if (v.payerKey !== prev.payerKey) return bad('payerKey', 'differs from the earlier vouchers of the channel');
      if (v.currency !== prev.currency) return bad('currency', `${show(v.currency)} differs from ${show(prev.currency)}`);
      if (v.seq <= prev.seq) return bad('seq', `${v.seq} does not increase (previous ${prev.seq})`);
      if (parseDecimal(v.amount, MONEY_FRAC) < parseDecimal(prev.amount, MONEY_FRAC)) {
        return bad('amount', `${v.amount} is below the previous ${prev.amount}: amounts are cumulative`);
      }
    }
    out.push(v);
  }
  return { ok: true, vouchers: out };
}
