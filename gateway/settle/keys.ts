/**
 * Payer keys (docs/settlement.md, "Who signs"): one ed25519 key per payer
 * account THIS GATEWAY OPERATES (the accounts of its own devices), kept as a
 * PKCS8 PEM file `<dataDir>/keys/<account>.key` (mode 0600, folder 0700),
 * created on first need. An outside account (a data buyer, another gateway)
 * signs with its own key, which never reaches this gateway: `keyFor` refuses
 * any account not in `operated`, so no outside key is ever written here.
 * The gateway's own key (`keys/gateway.key`, `gatewayKey()`) signs ledger
 * checkpoints. A key file or folder that group or others may read
 * is repaired (chmod) with a warning; one that cannot be repaired is refused.
 *
 * A new key is written to a temporary file, flushed to disk and renamed into
 * place, so a crash never leaves a half-written key: a payer's key, once a
 * voucher carries it, stays the same across restarts.
 */
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../base/log';
import {
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  ensurePrivateDir,
  isExposed,
  permissionBits,
  writePrivateFileAtomic,
} from '../base/private-files';
import { SettleKeyError } from './errors';

/** Account names usable as file names: the config's id pattern (no "/", no leading dot). */
const ACCOUNT_FILE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** base64url without padding (RFC 4648 §5), as vouchers carry keys and signatures. */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** Strict base64url decode: only [A-Za-z0-9_-], no padding, and it must re-encode to the same text. */
export function fromBase64Url(text: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

/** The raw 32-byte ed25519 public key as base64url (a voucher's `payerKey`). */
export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new SettleKeyError('not an ed25519 key');
  return jwk.x;
}

/** A public key object from a voucher's `payerKey`; null when it is not 32 bytes of base64url. */
export function publicKeyFromRaw(payerKey: string): KeyObject | null {
  const raw = fromBase64Url(payerKey);
  if (!raw || raw.length !== 32) return null;
  try {
    return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: payerKey }, format: 'jwk' });
  } catch {
    return null;
  }
}

/** One account's signing key. */
export interface PayerKey {
  account: string;
  /** base64url of the raw 32-byte public key. */
  publicKey: string;
  /** base64url ed25519 signature of `data`. */
  sign(data: string | Uint8Array): string;
}

/** The file name of the gateway's own (checkpoint) key in the key folder. */
export const GATEWAY_KEY_NAME = 'gateway';

export class KeyStore {
  private readonly cache = new Map<string, PayerKey>();
  private dirChecked = false;

  /**
   * `dir` is `<dataDir>/keys`; `operated` the accounts this gateway may sign
   * for (undefined = any: only for tools that sign for a party in its own
   * folder, such as `m2m-gateway buy`).
   */
  constructor(
    readonly dir: string,
    private readonly log?: Logger,
    private readonly operated?: ReadonlySet<string>,
  ) {}

  static forDataDir(dataDir: string, log?: Logger, operated?: ReadonlySet<string>): KeyStore {
    return new KeyStore(path.join(dataDir, 'keys'), log, operated);
  }

  /** Whether this store may hold a key for `account`. */
  operates(account: string): boolean {
    return this.operated === undefined || this.operated.has(account);
  }

  /** The gateway's own key (`keys/gateway.key`), created on first need; signs checkpoints. */
  gatewayKey(): PayerKey {
    return this.load_(GATEWAY_KEY_NAME);
  }

  /** Path of an account's key file. */
  fileOf(account: string): string {
    if (!ACCOUNT_FILE_PATTERN.test(account)) {
      throw new SettleKeyError(`account ${JSON.stringify(account)} cannot name a key file (expected letters, digits, "_", "." or "-")`);
    }
    return path.join(this.dir, `${account}.key`);
  }

  /** The account's key: loaded from its file, or created there on first need. */
  keyFor(account: string): PayerKey {
    if (!this.operates(account) || (this.operated !== undefined && account === GATEWAY_KEY_NAME)) {
      throw new SettleKeyError(
        `account ${JSON.stringify(account)} is not operated by this gateway: it signs its own vouchers with its own key`,
      );
    }
    return this.load_(account);
  }

  private load_(account: string): PayerKey {
    const hit = this.cache.get(account);
    if (hit) return hit;
    const file = this.fileOf(account);
    this.ensureDir();
    const privateKey = fs.existsSync(file) ? this.load(file) : this.create(file);
    const key: PayerKey = {
      account,
      publicKey: rawPublicKey(crypto.createPublicKey(privateKey)),
      sign: (data) => toBase64Url(crypto.sign(null, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, privateKey)),
    };
    this.cache.set(account, key);
    return key;
  }

  /** The account's public key if its key file exists (never creates one). */
  publicKeyOf(account: string): string | null {
    if (!this.operates(account)) return null;
    if (this.cache.has(account)) return this.cache.get(account)!.publicKey;
    return fs.existsSync(this.fileOf(account)) ? this.keyFor(account).publicKey : null;
  }

  private ensureDir(): void {
    if (this.dirChecked) return;
    try {
      ensurePrivateDir(this.dir);
    } catch (err) {
      throw new SettleKeyError(`cannot create the key folder ${this.dir}: ${(err as Error).message}`, err);
    }
    this.makePrivate(this.dir, PRIVATE_DIR_MODE, 'key folder');
    this.dirChecked = true;
  }

  /** Group/world access is repaired with a warning; refused when it cannot be. */
  private makePrivate(target: string, mode: number, what: string): void {
    const st = fs.statSync(target);
    if (!isExposed(st.mode)) return;
    const was = permissionBits(st.mode).toString(8).padStart(3, '0');
    try {
      fs.chmodSync(target, mode);
    } catch (err) {
      throw new SettleKeyError(
        `${what} ${target} is accessible to group or others (mode ${was}) and cannot be made private: ${(err as Error).message}`,
        err,
      );
    }
    if (isExposed(fs.statSync(target).mode)) {
      throw new SettleKeyError(`${what} ${target} is accessible to group or others (mode ${was}) and stays so after chmod`);
    }
    this.log?.warn(
      { file: target, mode: was, now: mode.toString(8).padStart(3, '0') },
      `${what} was accessible to group or others; mode repaired`,
    );
  }

  private load(file: string): KeyObject {
    this.makePrivate(file, PRIVATE_FILE_MODE, 'key file');
    let key: KeyObject;
    try {
      key = crypto.createPrivateKey({ key: fs.readFileSync(file), format: 'pem' });
    } catch (err) {
      throw new SettleKeyError(`key file ${file} is not a PKCS8 PEM private key: ${(err as Error).message}`, err);
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new SettleKeyError(`key file ${file} holds a ${String(key.asymmetricKeyType)} key, not ed25519`);
    }
    return key;
  }

  private create(file: string): KeyObject {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    try {
      writePrivateFileAtomic(file, pem);
    } catch (err) {
      throw new SettleKeyError(`cannot write the key file ${file}: ${(err as Error).message}`, err);
    }
    this.log?.info({ file, account: path.basename(file, '.key') }, 'payer key created');
    return privateKey;
  }
}
