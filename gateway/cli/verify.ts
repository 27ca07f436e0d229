/**
 * `m2m-gateway verify <voucher.json> [--key <base64url>]`: check a voucher (or
 * a JSON array of vouchers of one channel) as a payee would, without the
 * gateway's ledger. Prints `valid` or `INVALID: <reason naming the field>`.
 * Exit 0 valid, 1 invalid, 2 unreadable file, not JSON, or a bad --key.
 * A repeated key (`"amount"` twice) is invalid (docs/settlement.md): JSON.parse
 * would keep the last one without a word.
 */
import fs from 'node:fs';
import { findDuplicateKey } from '../base/json-keys';
import { fromBase64Url } from '../settle/keys';
import { checkVoucher, checkVoucherList } from '../settle/voucher-check';
import { processIo, type CliIo } from './cli-io';
import { EXIT_CONFIG, EXIT_INVALID, EXIT_OK } from './exit-codes';

export interface VerifyResult {
  code: number;
  /** The line printed on stdout (valid / INVALID: …), or the error on stderr for exit 2. */
  message: string;
}

/** Check voucher JSON text; the pure core of the command. */
export function verifyVoucherText(text: string, opts: { key?: string } = {}): VerifyResult {
  if (opts.key !== undefined) {
    const raw = fromBase64Url(opts.key);
    if (!raw || raw.length !== 32) return { code: EXIT_CONFIG, message: `--key must be the base64url of a raw 32-byte ed25519 public key` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { code: EXIT_CONFIG, message: `not JSON: ${(err as Error).message}` };
  }
  const dup = findDuplicateKey(text);
  if (dup !== null) return { code: EXIT_INVALID, message: `INVALID: duplicate key ${dup} (a repeated key may be read either way)` };
  const r = Array.isArray(value) ? checkVoucherList(value, opts) : checkVoucher(value, opts);
  return r.ok ? { code: EXIT_OK, message: 'valid' } : { code: EXIT_INVALID, message: `INVALID: ${r.reason}` };
}

/** Check a voucher file. */
export function verifyVoucherFile(file: string, opts: { key?: string } = {}): VerifyResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { code: EXIT_CONFIG, message: `cannot read ${file}: ${(err as Error).message}` };
  }
  const r = verifyVoucherText(text, opts);
  return r.code === EXIT_CONFIG && r.message.startsWith('not JSON') ? { ...r, message: `${file} is ${r.message}` } : r;
}

export async function verifyCommand(file: string, opts: { key?: string }, io: CliIo = processIo): Promise<number> {
  const r = verifyVoucherFile(file, opts);
  if (r.code === EXIT_CONFIG) io.stderr.write(`error: ${r.message}\n`);
  else io.stdout.write(`${r.message}\n`);
  return r.code;
}
