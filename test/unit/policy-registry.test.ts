import fc from 'fast-check';
import { PolicyRegistry } from '../../gateway/meter/policy-registry';

describe('PolicyRegistry', () => {
  it('interns accounts, channels and lines to dense, stable indices', () => {
    const r = new PolicyRegistry();
    expect(r.account('purifier-1')).toBe(0);
    expect(r.channel('purifier-1', 'waterworks')).toBe(0);
    expect(r.channel('meter-1', 'grid')).toBe(1);
    expect(r.account('meter-1')).toBe(1); // interned by the channel, as its payer
    expect(r.channel('purifier-1', 'waterworks')).toBe(0);
    expect(r.line(0, 0)).toBe(0);
    expect(r.line(3, 1)).toBe(1);
    expect(r.line(0, 0)).toBe(0);
    expect(r.line(0, 1)).toBe(2);
    expect([r.accountCount, r.channelCount, r.lineCount]).toEqual([2, 2, 3]);
  });

  it('answers reverse lookups', () => {
    const r = new PolicyRegistry();
    const ch = r.channel('lab-1', 'purifier-1');
    const line = r.line(7, ch);
    expect(r.accountName(0)).toBe('lab-1');
    expect(r.channelInfo(ch)).toEqual({ id: 'lab-1>purifier-1', payer: 'lab-1', payee: 'purifier-1' });
    expect(r.channelAccount(ch)).toBe(0);
    expect(r.lineInfo(line)).toEqual({ slot: 7, channel: ch });
    expect(r.findChannel('lab-1', 'purifier-1')).toBe(ch);
    expect(r.findChannel('x', 'y')).toBeUndefined();
    expect(r.findAccount('purifier-1')).toBeUndefined(); // a payee is not an account until it pays
    expect(() => r.accountName(5)).toThrow(RangeError);
    expect(() => r.channelInfo(5)).toThrow(RangeError);
    expect(() => r.lineInfo(5)).toThrow(RangeError);
  });

  it('rejects ambiguous channel names and unknown channels', () => {
    const r = new PolicyRegistry();
    expect(() => r.channel('a>b', 'c')).toThrow(RangeError);
    expect(() => r.channel('a', '')).toThrow(RangeError);
    expect(() => r.line(0, 0)).toThrow(/unknown channel/);
    expect(() => r.account('')).toThrow(RangeError);
  });

  it('rebuilds identical indices from a snapshot', () => {
    const r = new PolicyRegistry();
    r.account('solo');
    r.line(4, r.channel('purifier-1', 'waterworks'));
    r.line(9, r.channel('meter-1', 'grid'));
    r.line(4, r.channel('purifier-1', 'service'));
    const snap = JSON.parse(JSON.stringify(r.snapshot()));
    const back = PolicyRegistry.restore(snap);
    expect(back.snapshot()).toEqual(r.snapshot());
    expect(back.channel('meter-1', 'grid')).toBe(r.channel('meter-1', 'grid'));
    expect(back.line(4, 2)).toBe(2);
    expect(() => PolicyRegistry.restore({ accounts: ['a'], channels: ['b>c'], lines: [] })).toThrow(/inconsistent/);
  });

  it('never changes an index once given, whatever the order of requests (property)', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const op = fc.oneof(
      fc.record({ t: fc.constant('account' as const), a: name }),
      fc.record({ t: fc.constant('channel' as const), a: name, b: name }),
      fc.record({ t: fc.constant('line' as const), slot: fc.nat(5), a: name, b: name }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const r = new PolicyRegistry();
        const given = new Map<string, number>();
        for (const o of ops) {
          let key: string;
          let idx: number;
          if (o.t === 'account') {
            key = `A:${o.a}`;
            idx = r.account(o.a);
          } else if (o.t === 'channel') {
            key = `C:${o.a}>${o.b}`;
            idx = r.channel(o.a, o.b);
          } else {
            const ch = r.channel(o.a, o.b);
            key = `L:${o.slot}:${ch}`;
            idx = r.line(o.slot, ch);
          }
          const before = given.get(key);
          if (before !== undefined) expect(idx).toBe(before);
          given.set(key, idx);
        }
        // Dense: every index below the count is taken exactly once.
        const kinds = { A: r.accountCount, C: r.channelCount, L: r.lineCount } as Record<string, number>;
        for (const k of ['A', 'C', 'L']) {
          const idxs = [...given.entries()].filter(([key]) => key.startsWith(`${k}:`)).map(([, v]) => v);
          expect(new Set(idxs).size).toBe(idxs.length);
          expect(idxs.every((i) => i < kinds[k])).toBe(true);
        }
        expect(PolicyRegistry.restore(r.snapshot()).snapshot()).toEqual(r.snapshot());
      }),
    );
  });
});
