import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadOrCreateSecrets, secretsPath } from '../../gateway/api/secrets';
import { adminTokenResolver, tokensEqual } from '../../gateway/api/auth';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-secrets-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const mode = (p: string): number => fs.statSync(p).mode & 0o777;

function warnings(): { warn: jest.Mock; calls: () => unknown[][] } {
  const warn = jest.fn();
  return { warn, calls: () => warn.mock.calls };
}

describe('loadOrCreateSecrets', () => {
  it('creates dataDir (0700) and secrets.json (0600) with random base64url secrets', () => {
    const dataDir = path.join(root, 'a', 'b', 'data');
    const s = loadOrCreateSecrets(dataDir);
    expect(s.created).toBe(true);
    expect(mode(dataDir)).toBe(0o700);
    const file = secretsPath(dataDir);
    expect(mode(file)).toBe(0o600);
    expect(s.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes
    expect(Buffer.from(s.adminToken, 'base64url').length).toBe(32);
    expect(s.editorPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(s.editorPassword).not.toBe(s.adminToken);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      adminToken: s.adminToken,
      editorPassword: s.editorPassword,
    });
    // no temp files left behind
    expect(fs.readdirSync(dataDir)).toEqual(['secrets.json']);
  });

  it('reuses the file on the second call', () => {
    const first = loadOrCreateSecrets(root);
    const second = loadOrCreateSecrets(root);
    expect(second).toEqual({ ...first, created: false });
  });

  it('two data dirs get different secrets', () => {
    const a = loadOrCreateSecrets(path.join(root, 'a'));
    const b = loadOrCreateSecrets(path.join(root, 'b'));
    expect(a.adminToken).not.toBe(b.adminToken);
  });

  it('repairs a world-readable file to 0600 and warns', () => {
    const first = loadOrCreateSecrets(root);
    fs.chmodSync(secretsPath(root), 0o644);
    const log = warnings();
    const again = loadOrCreateSecrets(root, log);
    expect(again.adminToken).toBe(first.adminToken);
    expect(mode(secretsPath(root))).toBe(0o600);
    expect(log.calls().length).toBe(1);
    expect(String(log.calls()[0]?.[1])).toMatch(/0600/);
  });

  it('adds a missing key to an older file and keeps the existing one', () => {
    const token = 'existing-token-0123456789abcdef';
    fs.writeFileSync(secretsPath(root), JSON.stringify({ adminToken: token }), { mode: 0o600 });
    const log = warnings();
    const s = loadOrCreateSecrets(root, log);
    expect(s.adminToken).toBe(token);
    expect(s.editorPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(JSON.parse(fs.readFileSync(secretsPath(root), 'utf8')).editorPassword).toBe(s.editorPassword);
    expect(mode(secretsPath(root))).toBe(0o600);
    expect(log.calls().length).toBe(1);
  });

  it('refuses a malformed file instead of rotating the token', () => {
    fs.writeFileSync(secretsPath(root), '{"adminToken": ', { mode: 0o600 });
    expect(() => loadOrCreateSecrets(root)).toThrow(expect.objectContaining({ code: 'GW_ERR_SECRETS' }));
    fs.writeFileSync(secretsPath(root), '{"adminToken": 5}');
    expect(() => loadOrCreateSecrets(root)).toThrow(expect.objectContaining({ code: 'GW_ERR_SECRETS' }));
    expect(fs.readFileSync(secretsPath(root), 'utf8')).toBe('{"adminToken": 5}');
  });

  it('refuses a symlinked secrets file', () => {
    const target = path.join(root, 'elsewhere.json');
    fs.writeFileSync(target, '{}');
    const dataDir = path.join(root, 'd');
    fs.mkdirSync(dataDir);
    fs.symlinkSync(target, secretsPath(dataDir));
    expect(() => loadOrCreateSecrets(dataDir)).toThrow(expect.objectContaining({ code: 'GW_ERR_SECRETS' }));
  });

  it('the generated admin token works with the admin resolver', () => {
    const s = loadOrCreateSecrets(root);
    const r = adminTokenResolver(s.adminToken);
    expect(r.resolve(s.adminToken)).toEqual({ kind: 'admin' });
    expect(r.resolve(s.adminToken.slice(1))).toBeNull();
    expect(r.resolve('')).toBeNull();
    expect(tokensEqual('a', 'a')).toBe(true);
    expect(tokensEqual('a', 'ab')).toBe(false);
  });
});
