/**
 * The contract every uplink Outbox implementation meets (MQTT.js
 * abstract_store style): call `outboxContract(name, factory)` from a test file;
 * each test gets a fresh, empty outbox from `factory.open()`.
 */
import fc from 'fast-check';
import { OutboxClosedError } from '../../gateway/uplink/errors';
import type { Outbox } from '../../gateway/uplink/outbox';

export interface OutboxFactory {
  open(opts?: { maxQueued?: number }): Outbox;
  /** Called after each test with every outbox it opened (closed or not). */
  dispose?(outbox: Outbox): void;
}

const seqs = (o: Outbox, limit = 1000, after = 0) => o.peek(limit, after).map((e) => e.seq);

export function outboxContract(name: string, factory: OutboxFactory): void {
  describe(`Outbox contract: ${name}`, () => {
    const opened: Outbox[] = [];
    const open = (opts?: { maxQueued?: number }): Outbox => {
      const o = factory.open(opts);
      opened.push(o);
      return o;
    };
    afterEach(() => {
      for (const o of opened.splice(0)) {
        if (factory.dispose) factory.dispose(o);
        else o.close();
      }
    });

    it('starts empty', () => {
      const o = open();
      expect(o.count()).toBe(0);
      expect(o.lastSeq()).toBe(0);
      expect(o.peek(10)).toEqual([]);
      expect(o.maxQueued).toBe(100_000);
    });

    it('numbers messages 1, 2, 3 … and answers them oldest first, exactly as put', () => {
      const o = open();
      expect(o.put('a/1', '{"x":"1.000"}')).toEqual({ seq: 1, dropped: 0 });
      expect(o.put('a/2', '{"x":"2"}')).toEqual({ seq: 2, dropped: 0 });
      expect(o.put('a/1', '{}')).toEqual({ seq: 3, dropped: 0 });
      expect(o.count()).toBe(3);
      expect(o.lastSeq()).toBe(3);
      expect(o.peek(10)).toEqual([
        { seq: 1, topic: 'a/1', body: '{"x":"1.000"}' },
        { seq: 2, topic: 'a/2', body: '{"x":"2"}' },
        { seq: 3, topic: 'a/1', body: '{}' },
      ]);
    });

    it('peeks a window: at most `limit` entries after `afterSeq`', () => {
      const o = open();
      for (let i = 0; i < 10; i++) o.put('t', `{"i":${i}}`);
      expect(seqs(o, 3)).toEqual([1, 2, 3]);
      expect(seqs(o, 3, 3)).toEqual([4, 5, 6]);
      expect(seqs(o, 100, 8)).toEqual([9, 10]);
      expect(seqs(o, 5, 10)).toEqual([]);
      expect(o.peek(0)).toEqual([]);
      expect(o.count()).toBe(10); // peeking removes nothing
    });

    it('deletes acknowledged entries in any order; a second delete is a no-op', () => {
      const o = open();
      for (let i = 0; i < 5; i++) o.put('t', '{}');
      expect(o.del(2)).toBe(true);
      expect(o.del(4)).toBe(true);
      expect(o.del(2)).toBe(false);
      expect(o.del(99)).toBe(false);
      expect(seqs(o)).toEqual([1, 3, 5]);
      expect(o.count()).toBe(3);
    });

    it('never reuses a seq, even after the queue emptied', () => {
      const o = open();
      o.put('t', '{}');
      o.put('t', '{}');
      o.del(1);
      o.del(2);
      expect(o.count()).toBe(0);
      expect(o.put('t', '{}').seq).toBe(3);
      expect(o.lastSeq()).toBe(3);
    });

    it('is bounded: when full, put drops the oldest first and says how many', () => {
      const o = open({ maxQueued: 3 });
      expect(o.maxQueued).toBe(3);
      const dropped = [1, 2, 3, 4, 5].map(() => o.put('t', '{}').dropped);
      expect(dropped).toEqual([0, 0, 0, 1, 1]);
      expect(seqs(o)).toEqual([3, 4, 5]);
      expect(o.count()).toBe(3);
      o.del(4); // room again: nothing dropped
      expect(o.put('t', '{}')).toEqual({ seq: 6, dropped: 0 });
      expect(o.put('t', '{}')).toEqual({ seq: 7, dropped: 1 });
      expect(seqs(o)).toEqual([5, 6, 7]);
    });

    it('refuses a bound that is not a positive integer', () => {
      expect(() => open({ maxQueued: 0 })).toThrow(RangeError);
      expect(() => open({ maxQueued: 1.5 })).toThrow(RangeError);
    });

    it('throws OutboxClosedError after close (close twice is fine)', () => {
      const o = open();
      o.put('t', '{}');
      o.close();
      o.close();
      for (const f of [() => o.put('t', '{}'), () => o.peek(1), () => o.del(1), () => o.count(), () => o.lastSeq()]) {
        expect(f).toThrow(OutboxClosedError);
      }
    });

    it('behaves like a bounded FIFO model under any sequence of put/del/peek', () => {
      type Cmd = { op: 'put'; topic: string } | { op: 'del'; pick: number } | { op: 'peek'; limit: number; after: number };
      const cmd = fc.oneof(
        fc.record({ op: fc.constant('put' as const), topic: fc.constantFrom('a', 'b/c', 'd/e/f') }),
        fc.record({ op: fc.constant('del' as const), pick: fc.nat(50) }),
        fc.record({ op: fc.constant('peek' as const), limit: fc.integer({ min: 1, max: 20 }), after: fc.nat(60) }),
      );
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 8 }), fc.array(cmd, { maxLength: 60 }), (max, cmds: Cmd[]) => {
          const o = open({ maxQueued: max });
          const model: Array<{ seq: number; topic: string; body: string }> = [];
          let last = 0;
          try {
            for (const c of cmds) {
              if (c.op === 'put') {
                const body = JSON.stringify({ n: last + 1 });
                let drop = 0;
                while (model.length >= max) {
                  model.shift();
                  drop++;
                }
                last++;
                model.push({ seq: last, topic: c.topic, body });
                expect(o.put(c.topic, body)).toEqual({ seq: last, dropped: drop });
              } else if (c.op === 'del') {
                const i = model.length > 0 ? c.pick % (model.length + 1) : 0;
                const exists = i < model.length;
                const target = exists ? model[i]!.seq : last + 1;
                if (exists) model.splice(i, 1);
                expect(o.del(target)).toBe(exists);
              } else {
                expect(o.peek(c.limit, c.after)).toEqual(model.filter((e) => e.seq > c.after).slice(0, c.limit));
              }
              expect(o.count()).toBe(model.length);
              expect(o.lastSeq()).toBe(last);
            }
          } finally {
            o.close();
          }
        }),
        { numRuns: 100 },
      );
    });
  });
}
