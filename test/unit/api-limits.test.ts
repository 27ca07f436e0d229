/**
 * The pieces that keep the API answering under abuse (docs/api.md "Limits"):
 * linear-time globs, the per-address pool that makes room by age, the editor
 * login limiter (per address, never a lock-out of the user), and the HTTP
 * connection guard against half-open sockets.
 */
import http from 'node:http';
import net from 'node:net';
import { AddressPool } from '../../gateway/api/address-pool';
import { ConnectionGuard } from '../../gateway/api/connection-guard';
import { LoginLimiter } from '../../gateway/api/login-limiter';
import { compileDeviceGlob, compileGlob, globMatch } from '../../gateway/policy/glob';

/** The meaning of a glob, as a regular expression (fine for short test inputs). */
const reference = (p: string) =>
  new RegExp(
    `^${p
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

describe('globMatch', () => {
  it('agrees with the regular-expression meaning on every short pattern and name over {a, b, *, ?}', () => {
    const alphabet = ['a', 'b', '*', '?'];
    const words = (n: number, chars: string[]): string[] => (n === 0 ? [''] : words(n - 1, chars).flatMap((w) => chars.map((c) => w + c)));
    const patterns = [0, 1, 2, 3, 4].flatMap((n) => words(n, alphabet));
    const names = [0, 1, 2, 3, 4, 5].flatMap((n) => words(n, ['a', 'b']));
    for (const p of patterns) {
      const re = reference(p);
      const m = compileGlob(p);
      for (const name of names) {
        if (globMatch(p, name) !== re.test(name) || m(name) !== re.test(name))
          throw new Error(`glob ${JSON.stringify(p)} on ${JSON.stringify(name)}`);
      }
    }
  });

  it('answers the catastrophic patterns without backtracking blow-up', () => {
    const evil = '*?'.repeat(63) + '~';
    const id = 'lab-sensor-000000000000000001';
    // A backtracking matcher needs ~C(63, 29) steps here; the walk is bounded by 127 × 29.
    for (let i = 0; i < 1_000; i++) expect(globMatch(evil, id)).toBe(false);
    expect(globMatch('*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(5_000))).toBe(false);
    expect(globMatch('*?*?*', 'ab')).toBe(true);
  });

  it('takes comma alternatives in policy globs; case-sensitive; literal dots', () => {
    const m = compileDeviceGlob('meter-1, purifier-*');
    expect(['meter-1', 'purifier-2', 'meter-10', 'Purifier-1'].filter(m)).toEqual(['meter-1', 'purifier-2']);
    expect(compileGlob('a.b')('axb')).toBe(false);
  });
});

describe('AddressPool', () => {
  it('makes room by evicting the oldest of the same address, else the oldest of the heaviest address', () => {
    const pool = new AddressPool<string>(4, 2);
    expect(pool.admit('a1', 'A')).toEqual([]);
    expect(pool.admit('a2', 'A')).toEqual([]);
    expect(pool.admit('a3', 'A')).toEqual(['a1']); // A is at its share
    expect(pool.admit('b1', 'B')).toEqual([]);
    expect(pool.admit('c1', 'C')).toEqual([]);
    expect(pool.admit('d1', 'D')).toEqual(['a2']); // full: A holds the most
    expect(pool.admit('e1', 'E')).toEqual(['a3']); // one each now: the first address found with the most
    expect(pool.size).toBe(4);
    expect(pool.remove('b1')).toBe(true);
    expect(pool.remove('b1')).toBe(false);
    expect(pool.countOf('C')).toBe(1);
    expect(pool.shiftOldest()).toBe('c1');
  });
});

describe('LoginLimiter', () => {
  it('refuses an address after maxFailures within the window, others not; a success clears it; the window slides', () => {
    let now = 0;
    const l = new LoginLimiter({ maxFailures: 3, windowMs: 1_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterMs('x')).toBe(0);
      l.fail('x');
      now += 100;
    }
    expect(l.retryAfterMs('x')).toBe(700); // the first failure (at 0) leaves the window at 1000
    expect(l.retryAfterMs('y')).toBe(0);
    now = 1_001;
    expect(l.retryAfterMs('x')).toBe(0);
    l.fail('y');
    l.succeed('y');
    expect(l.retryAfterMs('y')).toBe(0);
  });

  it('remembers at most maxAddresses addresses', () => {
    const l = new LoginLimiter({ maxFailures: 1, maxAddresses: 2, now: () => 0 });
    l.fail('a');
    l.fail('b');
    l.fail('c');
    expect(['a', 'b', 'c'].map((x) => l.retryAfterMs(x) > 0)).toEqual([false, true, true]);
  });
});

describe('ConnectionGuard', () => {
  it('half-open sockets age out of the pending pool; a real request always gets through', async () => {
    const server = http.createServer((_q, r) => r.end('ok'));
    const drops: string[] = [];
    new ConnectionGuard(server, { maxConnections: 8, maxPending: 4, maxPendingPerAddress: 2 }, (why) => drops.push(why));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const idle: net.Socket[] = [];
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 3)}` });
      s.on('error', () => undefined);
      closed.push(new Promise((r) => s.once('close', () => r())));
      idle.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ port, host: '127.0.0.1', path: '/', agent: false }, (res) => {
          let t = '';
          res.on('data', (b: Buffer) => (t += b.toString()));
          res.on('end', () => resolve(t));
        })
        .on('error', reject);
    });
    expect(body).toBe('ok');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed.slice(0, 2)), new Promise((r) => (timer = setTimeout(r, 2_000)))]);
    clearTimeout(timer);
    expect(drops.filter((d) => d === 'pending').length).toBeGreaterThanOrEqual(2);
    for (const s of idle) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
