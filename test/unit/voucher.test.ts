/**
 * Vouchers (docs/architecture.md §6): RFC 8785 canonical JSON, ed25519 sign/verify,
 * every field tampered -> INVALID naming the field, lists of one channel,
 * and the `verify` command's exit codes. One fixed-key vector (RFC 8032
 * test 1 key) is cross-checked by an independent implementation (Python
 * `cryptography`, OpenSSL underneath).
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bufferIo } from '../../gateway/cli/cli-io';
import { verifyCommand, verifyVoucherFile, verifyVoucherText } from '../../gateway/cli/verify';
import { canonicalJson } from '../../gateway/settle/canonical-json';
import { KeyStore, type PayerKey } from '../../gateway/settle/keys';
import { signVoucher, signedText, VOUCHER_FIELDS, type SignedVoucher, type VoucherTerms } from '../../gateway/settle/voucher';
import { checkVoucher, checkVoucherList } from '../../gateway/settle/voucher-check';
import { findDuplicateKey } from '../../gateway/base/json-keys';
import { VoucherIssueError } from '../../gateway/settle/errors';

describe('RFC 8785 canonical JSON', () => {
  test('§3.2.2: the sample object (literals, numbers, string escapes)', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    expect(canonicalJson(JSON.parse(input))).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  test('§3.2.3: properties sorted by UTF-16 code units', () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const out = canonicalJson(JSON.parse(input));
    const values = [...out.matchAll(/:"([^"]*)"/g)].map((m) => m[1]);
    expect(values).toEqual([
      'Carriage Return',
      'One',
      'Control',
      'Latin Small Letter O With Diaeresis',
      'Euro Sign',
      'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh',
    ]);
    expect(out.startsWith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"')).toBe(true);
  });

  test.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['41b3de4355555553', '333333333.3333332'],
  ])('Appendix B: IEEE 754 %s serializes as %s', (hex, want) => {
    expect(canonicalJson(Buffer.from(hex, 'hex').readDoubleBE(0))).toBe(want);
  });

  test('NaN and Infinity are not JSON', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow();
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow();
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});

// RFC 8032 §7.1 test 1 key: the public key is d75a9801…511a.
const SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const fixedPrivate = crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), SEED]),
  format: 'der',
  type: 'pkcs8',
});
const fixedKey: PayerKey = {
  account: 'purifier-1',
  publicKey: crypto.createPublicKey(fixedPrivate).export({ format: 'jwk' }).x as string,
  sign: (d) => crypto.sign(null, typeof d === 'string' ? Buffer.from(d) : d, fixedPrivate).toString('base64url'),
};
const TERMS: VoucherTerms = {
  payer: 'purifier-1',
  payee: 'waterworks',
  seq: 17,
  amountNano: 12_345_000_000n,
  currency: 'NOK',
  ledgerHead: 'ab'.repeat(32),
  issuedAtMs: Date.parse('2026-11-25T12:00:00.000Z'),
};

describe('signing', () => {
  test('the voucher has exactly the fields of docs/architecture.md §6, in order, and the signature covers the canonical JSON of the others', () => {
    const v = signVoucher(TERMS, fixedKey);
    expect(Object.keys(v)).toEqual([...VOUCHER_FIELDS]);
    expect(Buffer.from(v.payerKey, 'base64url').toString('hex')).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(signedText(v)).toBe(
      '{"amount":"12.345000000","channel":"purifier-1>waterworks","currency":"NOK","issuedAt":"2026-11-25T12:00:00.000Z",' +
        `"ledgerHead":"${'ab'.repeat(32)}","payee":"waterworks","payer":"purifier-1","payerKey":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","seq":17,"v":1}`,
    );
    // ed25519 is deterministic: a regression vector for the whole format.
    expect(v.sig).toBe('q_vQnWPHxwVoR5iqZSNv0-Fb4kl6nzfuxDbiG2BHLZRLXovznat-Rmc1r0AgxKMPA4PHawL7KJPZFk-SZAT2Aw');
    expect(checkVoucher(v)).toEqual({ ok: true, voucher: v });
  });

  test('an independent ed25519 implementation (Python cryptography) accepts the signature over the canonical bytes', () => {
    const v = signVoucher(TERMS, fixedKey);
    const script = [
      'import sys, json, base64',
      'from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey',
      'd = json.load(sys.stdin)',
      'b = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))',
      'Ed25519PublicKey.from_public_bytes(b(d["key"])).verify(b(d["sig"]), d["text"].encode("utf-8"))',
      'print("ok")',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script], {
      input: JSON.stringify({ key: v.payerKey, sig: v.sig, text: signedText(v) }),
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect({ status: r.status, out: r.stdout.trim(), err: r.stderr }).toEqual({ status: 0, out: 'ok', err: '' });
  });

  test('round trip with a key from the key store; a key only signs for its own account', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-voucher-'));
    try {
      const keys = new KeyStore(path.join(dir, 'keys'));
      const v = signVoucher({ ...TERMS, amountNano: 0n, seq: 1 }, keys.keyFor('purifier-1'));
      expect(v.amount).toBe('0.000000000');
      expect(checkVoucher(v, { key: keys.keyFor('purifier-1').publicKey }).ok).toBe(true);
      expect(() => signVoucher(TERMS, keys.keyFor('other'))).toThrow(VoucherIssueError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('terms that would break the format are refused', () => {
    expect(() => signVoucher({ ...TERMS, seq: 0 }, fixedKey)).toThrow(/seq/);
    expect(() => signVoucher({ ...TERMS, amountNano: -1n }, fixedKey)).toThrow(/amount/);
    expect(() => signVoucher({ ...TERMS, payee: 'a>b' }, fixedKey)).toThrow(/channel/);
    expect(() => signVoucher({ ...TERMS, currency: 'nok' }, fixedKey)).toThrow(/currency/);
    expect(() => signVoucher({ ...TERMS, ledgerHead: 'xyz' }, fixedKey)).toThrow(/ledger head/);
  });
});

describe('verification: every field tampered is INVALID, naming the field', () => {
  const good = signVoucher(TERMS, fixedKey);
  const otherKey = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string;
  const tamper = (field: string, value: unknown): Record<string, unknown> => ({ ...good, [field]: value });
  const invalid = (v: unknown, opts = {}) => {
    const r = checkVoucher(v, opts);
    if (r.ok) throw new Error(`expected INVALID for ${JSON.stringify(v)}`);
    return r;
  };

  // Values that break the field's own format: the reason names that field.
  test.each<[string, unknown, RegExp]>([
    ['v', 2, /^v: must be 1/],
    ['v', '1', /^v: must be 1/],
    ['channel', 'purifier-1', /^channel: must be "payer>payee"/],
    ['channel', 'a>b>c', /^channel: /],
    ['payer', 'purifier-2', /^payer: "purifier-2" is not the payer of channel/],
    ['payer', 12, /^payer: must be a string/],
    ['payee', 'sewer', /^payee: "sewer" is not the payee of channel/],
    ['payerKey', 'AAAA', /^payerKey: must decode to 32 bytes/],
    ['payerKey', `${good.payerKey}=`, /^payerKey: must be base64url without padding/],
    ['seq', 0, /^seq: must be a positive integer/],
    ['seq', 1.5, /^seq: must be a positive integer/],
    ['seq', '17', /^seq: must be a positive integer/],
    ['amount', '12.345', /^amount: must be a decimal string with 9 fraction digits/],
    ['amount', 12.345, /^amount: must be a string/],
    ['amount', '-1.000000000', /^amount: /],
    ['amount', '012.345000000', /^amount: /],
    ['currency', 'nok', /^currency: /],
    ['ledgerHead', 'AB'.repeat(32), /^ledgerHead: must be 64 lowercase hex digits/],
    ['ledgerHead', 'ab'.repeat(31), /^ledgerHead: /],
    ['issuedAt', '2026-11-25 12:00:00', /^issuedAt: /],
    ['issuedAt', '2026-02-30T12:00:00.000Z', /^issuedAt: /],
    ['sig', good.sig.slice(0, 40), /^sig: must decode to 64 bytes/],
    ['sig', `${good.sig}==`, /^sig: must be base64url/],
  ])('%s = %j', (field, value, reason) => {
    const r = invalid(tamper(field, value));
    expect(r.field).toBe(field);
    expect(r.reason).toMatch(reason);
  });

  test('a missing field, an extra field, a non-object', () => {
    for (const f of VOUCHER_FIELDS) {
      const v: Record<string, unknown> = { ...good };
      delete v[f];
      expect(invalid(v)).toMatchObject({ field: f, reason: `${f}: missing` });
    }
    expect(invalid({ ...good, note: 'x' })).toMatchObject({ field: 'note', reason: 'note: is not a voucher field' });
    expect(invalid([good]).reason).toMatch(/^voucher: must be a JSON object/);
    expect(invalid(null).reason).toMatch(/^voucher: /);
  });

  // Well-formed values: only the signature can tell, and it does.
  test.each<[string, unknown]>([
    ['amount', '99.345000000'],
    ['amount', '12.345000001'],
    ['seq', 18],
    ['currency', 'EUR'],
    ['ledgerHead', 'cd'.repeat(32)],
    ['issuedAt', '2026-11-25T12:00:00.001Z'],
    ['payerKey', otherKey],
    ['sig', Buffer.alloc(64, 7).toString('base64url')],
  ])('well-formed %s = %j: INVALID by the signature', (field, value) => {
    expect(invalid(tamper(field, value))).toMatchObject({
      field: 'sig',
      reason: expect.stringMatching(/^sig: the signature does not match/),
    });
  });

  test('payer and payee changed together with the channel: INVALID by the signature', () => {
    const v = { ...good, channel: 'purifier-2>waterworks', payer: 'purifier-2' };
    expect(invalid(v).field).toBe('sig');
    const w = { ...good, channel: 'purifier-1>sewer', payee: 'sewer' };
    expect(invalid(w).field).toBe('sig');
  });

  test('--key: a voucher signed by another payer key is refused before the signature', () => {
    expect(invalid(good, { key: otherKey })).toMatchObject({ field: 'payerKey', reason: expect.stringMatching(/is not the required key/) });
    expect(checkVoucher(good, { key: good.payerKey }).ok).toBe(true);
  });
});

describe('lists of one channel', () => {
  const v = (seq: number, amountNano: bigint, over: Partial<VoucherTerms> = {}): SignedVoucher =>
    signVoucher({ ...TERMS, seq, amountNano, ...over }, over.payer ? { ...fixedKey, account: over.payer } : fixedKey);

  test('seq strictly increasing and amounts non-decreasing: valid', () => {
    const list = [v(1, 1n), v(2, 1n), v(5, 3_000_000_000n)];
    expect(checkVoucherList(list)).toEqual({ ok: true, vouchers: list });
  });

  test('a repeated or falling seq, a falling amount, another channel, a bad element, an empty list', () => {
    expect(checkVoucherList([v(1, 1n), v(1, 2n)])).toMatchObject({
      ok: false,
      index: 1,
      field: 'seq',
      reason: '[1].seq: 1 does not increase (previous 1)',
    });
    expect(checkVoucherList([v(2, 1n), v(1, 2n)])).toMatchObject({ ok: false, index: 1, field: 'seq' });
    expect(checkVoucherList([v(1, 5n), v(2, 4n)])).toMatchObject({
      ok: false,
      index: 1,
      field: 'amount',
      reason: expect.stringMatching(/^\[1\]\.amount: 0\.000000004 is below the previous 0\.000000005/),
    });
    expect(checkVoucherList([v(1, 1n), v(2, 2n, { payee: 'sewer' })])).toMatchObject({ ok: false, index: 1, field: 'channel' });
    expect(checkVoucherList([v(1, 1n), { ...v(2, 2n), amount: '3.000000000' }])).toMatchObject({
      ok: false,
      index: 1,
      field: 'sig',
      reason: expect.stringMatching(/^\[1\]\.sig: /),
    });
    expect(checkVoucherList([])).toMatchObject({ ok: false, reason: 'the list holds no vouchers' });
  });
});

describe('m2m-gateway verify', () => {
  let dir: string;
  const good = signVoucher(TERMS, fixedKey);
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-verify-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  test('valid -> "valid", exit 0; tampered -> "INVALID: <reason>", exit 1', async () => {
    const io = bufferIo();
    expect(await verifyCommand(file('good.json', JSON.stringify(good, null, 2)), {}, io)).toBe(0);
    expect(io.out()).toBe('valid\n');
    const bad = bufferIo();
    expect(await verifyCommand(file('bad.json', JSON.stringify({ ...good, amount: '13.000000000' })), {}, bad)).toBe(1);
    expect(bad.out()).toMatch(/^INVALID: sig: the signature does not match/);
    expect(bad.err()).toBe('');
  });

  test('unreadable file or not JSON -> exit 2 on stderr; JSON that is not a voucher -> exit 1', async () => {
    const io = bufferIo();
    expect(await verifyCommand(path.join(dir, 'missing.json'), {}, io)).toBe(2);
    expect(io.err()).toMatch(/^error: cannot read .*missing\.json/);
    expect(io.out()).toBe('');
    expect(verifyVoucherFile(file('text.json', '{"v":1,')).code).toBe(2);
    expect(verifyVoucherText('42')).toEqual({ code: 1, message: 'INVALID: voucher: must be a JSON object, got 42' });
  });

  test('a repeated key is INVALID even when the last one makes a valid signature (JSON.parse keeps the last)', () => {
    const text = JSON.stringify(good);
    // A reader that keeps the first "amount" sees 999 NOK; the signature covers the last one.
    const twice = text.replace('"amount":', '"amount":"999.000000000","amount":');
    expect(JSON.parse(twice).amount).toBe(good.amount);
    expect(verifyVoucherText(twice)).toEqual({
      code: 1,
      message: 'INVALID: duplicate key $.amount (a repeated key may be read either way)',
    });
    const list = `[${text},${text.replace('"seq":', '"seq":99,"seq":')}]`;
    expect(verifyVoucherText(list).message).toBe('INVALID: duplicate key $[1].seq (a repeated key may be read either way)');
    // Escaped quotes, commas and braces inside strings are not keys.
    expect(findDuplicateKey('{"a":"x\\",\\"a\\":{,}","b":[{"a":1},{"a":2}],"c":{"d":{"a":1}}}')).toBeNull();
    expect(findDuplicateKey('{"a":{"b":1,"b":2}}')).toBe('$.a.b');
  });

  test('--key requires that payer key; a malformed --key is a usage error', () => {
    expect(verifyVoucherText(JSON.stringify(good), { key: good.payerKey })).toEqual({ code: 0, message: 'valid' });
    const other = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string;
    expect(verifyVoucherText(JSON.stringify(good), { key: other })).toMatchObject({
      code: 1,
      message: expect.stringMatching(/^INVALID: payerKey: /),
    });
    expect(verifyVoucherText(JSON.stringify(good), { key: 'short' }).code).toBe(2);
  });

  test('an array of one channel: valid when it advances, INVALID naming the element otherwise', () => {
    const a = signVoucher({ ...TERMS, seq: 1, amountNano: 1_000_000_000n }, fixedKey);
    const b = signVoucher({ ...TERMS, seq: 2, amountNano: 2_000_000_000n }, fixedKey);
    expect(verifyVoucherText(JSON.stringify([a, b]))).toEqual({ code: 0, message: 'valid' });
    expect(verifyVoucherText(JSON.stringify([b, a]))).toEqual({ code: 1, message: 'INVALID: [1].seq: 1 does not increase (previous 2)' });
  });
});
