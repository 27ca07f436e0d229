/**
 * Payer keys: one ed25519 key per account in <dataDir>/keys/<account>.key
 * (PKCS8 PEM, 0600, folder 0700), created on first need, the same key after a
 * reload, group/world access repaired with a warning, bad files refused.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { SettleKeyError } from '../../gateway/settle/errors';
import { fromBase64Url, KeyStore, publicKeyFromRaw } from '../../gateway/settle/keys';

const mode = (f: string): number => fs.statSync(f).mode & 0o777;

/** A logger that collects warnings. */
function recordingLogger(): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  return { log, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('KeyStore', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-keys-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  test('creates <dataDir>/keys (0700) and <account>.key (0600, PKCS8 PEM ed25519) on first need', () => {
    const keys = KeyStore.forDataDir(dataDir);
    const dir = path.join(dataDir, 'keys');
    expect(fs.existsSync(dir)).toBe(false); // nothing before a key is needed
    expect(keys.publicKeyOf('purifier-1')).toBeNull();
    const k = keys.keyFor('purifier-1');
    const file = path.join(dir, 'purifier-1.key');
    expect(mode(dir)).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    const pem = fs.readFileSync(file, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const priv = crypto.createPrivateKey(pem);
    expect(priv.asymmetricKeyType).toBe('ed25519');
    expect(fromBase64Url(k.publicKey)).toHaveLength(32);
    expect(crypto.createPublicKey(priv).export({ format: 'jwk' }).x).toBe(k.publicKey);
    expect(fs.readdirSync(dir)).toEqual(['purifier-1.key']); // no temporary file left
    // The signature verifies with the public key alone.
    const sig = Buffer.from(k.sign('hello'), 'base64url');
    expect(crypto.verify(null, Buffer.from('hello'), publicKeyFromRaw(k.publicKey)!, sig)).toBe(true);
  });

  test('one key per account, the same key after a reload', () => {
    const a = KeyStore.forDataDir(dataDir).keyFor('a').publicKey;
    const b = KeyStore.forDataDir(dataDir).keyFor('b').publicKey;
    expect(a).not.toBe(b);
    const again = KeyStore.forDataDir(dataDir);
    expect(again.publicKeyOf('a')).toBe(a);
    expect(again.keyFor('b').publicKey).toBe(b);
  });

  test('a group/world-readable key file and folder are repaired to 0600/0700 with a warning', () => {
    const pub = KeyStore.forDataDir(dataDir).keyFor('purifier-1').publicKey;
    const dir = path.join(dataDir, 'keys');
    const file = path.join(dir, 'purifier-1.key');
    fs.chmodSync(file, 0o644);
    fs.chmodSync(dir, 0o755);
    const { log, lines } = recordingLogger();
    expect(KeyStore.forDataDir(dataDir, log).keyFor('purifier-1').publicKey).toBe(pub);
    expect(mode(file)).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
    const warnings = lines().filter((l) => l.level === 40);
    expect(warnings.map((w) => [w.file, w.mode, w.now])).toEqual([
      [dir, '755', '700'],
      [file, '644', '600'],
    ]);
    expect(String(warnings[1]?.msg)).toMatch(/key file was accessible to group or others; mode repaired/);
  });

  test('a key file that is not a PKCS8 ed25519 key is refused, not replaced', () => {
    const dir = path.join(dataDir, 'keys');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'garbage.key'), 'not a key', { mode: 0o600 });
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    fs.writeFileSync(path.join(dir, 'rsa.key'), rsa, { mode: 0o600 });
    const keys = KeyStore.forDataDir(dataDir);
    expect(() => keys.keyFor('garbage')).toThrow(SettleKeyError);
    expect(() => keys.keyFor('garbage')).toThrow(/is not a PKCS8 PEM private key/);
    expect(() => keys.keyFor('rsa')).toThrow(/holds a rsa key, not ed25519/);
    expect(fs.readFileSync(path.join(dir, 'garbage.key'), 'utf8')).toBe('not a key');
  });

  test('account names that cannot be file names are refused', () => {
    const keys = KeyStore.forDataDir(dataDir);
    for (const bad of ['../x', 'a/b', '.hidden', '', 'a b']) {
      expect(() => keys.keyFor(bad)).toThrow(SettleKeyError);
    }
    expect(fs.existsSync(path.join(dataDir, 'keys'))).toBe(false);
  });

  test('publicKeyFromRaw takes only 32 bytes of strict base64url', () => {
    const k = KeyStore.forDataDir(dataDir).keyFor('x').publicKey;
    expect(publicKeyFromRaw(k)?.asymmetricKeyType).toBe('ed25519');
    expect(publicKeyFromRaw(k.slice(0, -2))).toBeNull();
    expect(publicKeyFromRaw(`${k}=`)).toBeNull();
    expect(publicKeyFromRaw(`${k.slice(0, -1)}+`)).toBeNull(); // base64, not base64url
  });
});
