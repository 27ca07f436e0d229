/**
 * The signed cumulative voucher (docs/architecture.md §6):
 *
 *   {"v":1,"channel":"payer>payee","payer","payee","payerKey","seq","amount":"12.345000000",
 *    "currency","ledgerHead","issuedAt","sig"}
 *
 * `sig` is the base64url ed25519 signature, by the payer's key, over the
 * RFC 8785 canonical JSON of every other field. Per channel `seq` strictly
 * increases and `amount` (cumulative, 9 fraction digits) never decreases, so
 * the payee only ever needs the latest one.
 */
import { formatMoney } from '../base/decimal';
import type { SignedVoucher } from '../events';
import { canonicalJson } from './canonical-json';
import { VoucherIssueError } from './errors';
import type { PayerKey } from './keys';

export const VOUCHER_VERSION = 1;

/** The fields in the order the gateway writes them (the signature does not depend on it). */
export const VOUCHER_FIELDS = [
  'v',
  'channel',
  'payer',
  'payee',
  'payerKey',
  'seq',
  'amount',
  'currency',
  'ledgerHead',
  'issuedAt',
  'sig',
] as const;
export type VoucherField = (typeof VOUCHER_FIELDS)[number];
export type { SignedVoucher };

/** Everything but `sig`: what the signature covers. */
export type VoucherBody = Omit<SignedVoucher, 'sig'>;

export const CHANNEL_SEPARATOR = '>';
export const AMOUNT_PATTERN = /^(?:0|[1-9]\d*)\.\d{9}$/;
export const CURRENCY_PATTERN = /^[A-Z0-9]{3,12}$/;
export const LEDGER_HEAD_PATTERN = /^[0-9a-f]{64}$/;
export const ISSUED_AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The exact bytes `sig` signs: RFC 8785 canonical JSON of the voucher without `sig`. */
export function signedText(v: VoucherBody | SignedVoucher): string {
  const body: Record<string, unknown> = { ...v };
  delete body.sig;
  return canonicalJson(body);
}

export interface VoucherTerms {
  payer: string;
  payee: string;
  seq: number;
  amountNano: bigint;
  currency: string;
  /** Hex sha256 of the ledger head when it was issued. */
  ledgerHead: string;
  issuedAtMs: number;
}

/** Build and sign a voucher with the payer's key. */
export function signVoucher(t: VoucherTerms, key: PayerKey): SignedVoucher {
  if (key.account !== t.payer) throw new VoucherIssueError(`the key of ${key.account} cannot sign for payer ${t.payer}`);
  if (!t.payer || !t.payee || t.payer.includes(CHANNEL_SEPARATOR) || t.payee.includes(CHANNEL_SEPARATOR)) {
    throw new VoucherIssueError(`invalid channel ${JSON.stringify(`${t.payer}${CHANNEL_SEPARATOR}${t.payee}`)}`);
  }
  if (!Number.isSafeInteger(t.seq) || t.seq < 1) throw new VoucherIssueError(`seq must be a positive integer, got ${t.seq}`);
  if (t.amountNano < 0n) throw new VoucherIssueError(`amount must not be negative, got ${t.amountNano}`);
  if (!CURRENCY_PATTERN.test(t.currency)) throw new VoucherIssueError(`invalid currency ${JSON.stringify(t.currency)}`);
  if (!LEDGER_HEAD_PATTERN.test(t.ledgerHead)) throw new VoucherIssueError(`invalid ledger head ${JSON.stringify(t.ledgerHead)}`);
  const body: VoucherBody = {
    v: VOUCHER_VERSION,
    channel: `${t.payer}${CHANNEL_SEPARATOR}${t.payee}`,
    payer: t.payer,
    payee: t.payee,
    payerKey: key.publicKey,
    seq: t.seq,
    amount: formatMoney(t.amountNano),
    currency: t.currency,
    ledgerHead: t.ledgerHead,
    issuedAt: new Date(t.issuedAtMs).toISOString(),
  };
  return { ...body, sig: key.sign(signedText(body)) };
}
