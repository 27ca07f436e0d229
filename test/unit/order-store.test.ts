/**
 * The order store contract (ledger/order-store.ts), run against every
 * implementation like the ledger's and the outbox's: transitions happen once
 * and only from the right state, listing is newest first with filters, the
 * billed count per (device, point, payee), and (SQLite) everything survives a
 * reopen.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryOrderStore, type OrderRecord, type OrderStore } from '../../gateway/ledger/order-store';
import { SqliteOrderStore } from '../../gateway/ledger/sqlite-order-store';

const order = (id: string, over: Partial<OrderRecord> = {}): OrderRecord => ({
  id,
  gatewayId: 'gw',
  policy: 'n1',
  device: 'p-1',
  point: 'cartridge',
  reason: 'below',
  value: '9',
  predictedDays: null,
  provider: ['https://svc.example/orders', 'svc/orders'],
  fee: '25',
  payee: 'svc',
  state: 'open',
  openedAtMs: 1000,
  ackedAtMs: null,
  closedAtMs: null,
  billed: false,
  ...over,
});

const dirs: string[] = [];
const impls: Array<[string, () => OrderStore]> = [
  ['memory', () => new MemoryOrderStore()],
  [
    'sqlite',
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-orders-'));
      dirs.push(dir);
      return SqliteOrderStore.open(dir);
    },
  ],
];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe.each(impls)('order store contract: %s', (_name, make) => {
  it('opens, acknowledges once, closes once', () => {
    const s = make();
    s.open(order('a'));
    expect(() => s.open(order('a'))).toThrow();
    expect(s.acknowledge('a', 2000)).toBe(true);
    expect(s.acknowledge('a', 2001)).toBe(false);
    expect(s.acknowledge('nope', 1)).toBe(false);
    expect(s.get('a')).toEqual(order('a', { state: 'acked', ackedAtMs: 2000 }));
    expect(s.closeOrder('a', 3000, true)).toBe(true);
    expect(s.closeOrder('a', 3001, true)).toBe(false);
    expect(s.acknowledge('a', 3002)).toBe(false);
    expect(s.get('a')).toEqual(order('a', { state: 'closed', ackedAtMs: 2000, closedAtMs: 3000, billed: true }));
    s.close();
  });

  it('an open order may close unacknowledged; active() holds what is not closed, oldest first', () => {
    const s = make();
    s.open(order('b', { openedAtMs: 2000 }));
    s.open(order('a', { openedAtMs: 1000, device: 'p-2' }));
    s.open(order('c', { openedAtMs: 3000 }));
    s.acknowledge('c', 3100);
    expect(s.closeOrder('b', 2500, false)).toBe(true);
    expect(s.active().map((o) => [o.id, o.state])).toEqual([
      ['a', 'open'],
      ['c', 'acked'],
    ]);
    expect(s.list().map((o) => o.id)).toEqual(['c', 'b', 'a']);
    expect(s.list({ state: 'closed' }).map((o) => o.id)).toEqual(['b']);
    expect(s.list({ device: 'p-2' }).map((o) => o.id)).toEqual(['a']);
    expect(s.list({ limit: 1 }).map((o) => o.id)).toEqual(['c']);
    s.close();
  });

  it('counts billed orders per (device, point, payee)', () => {
    const s = make();
    for (const [id, device, billed] of [
      ['a', 'p-1', true],
      ['b', 'p-1', false],
      ['c', 'p-1', true],
      ['d', 'p-2', true],
    ] as const) {
      s.open(order(id, { device }));
      s.acknowledge(id, 2000);
      s.closeOrder(id, 3000, billed);
    }
    expect(s.billedCount('p-1', 'cartridge', 'svc')).toBe(2);
    expect(s.billedCount('p-2', 'cartridge', 'svc')).toBe(1);
    expect(s.billedCount('p-1', 'cartridge', 'other')).toBe(0);
    s.close();
  });
});

it('sqlite: orders survive a reopen of the data dir', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-orders-'));
  dirs.push(dir);
  const s = SqliteOrderStore.open(dir);
  s.open(order('a'));
  s.acknowledge('a', 2000);
  s.close();
  const again = SqliteOrderStore.open(dir);
  expect(again.active()).toEqual([order('a', { state: 'acked', ackedAtMs: 2000 })]);
  expect((fs.statSync(path.join(dir, 'orders.db')).mode & 0o777).toString(8)).toBe('600');
  again.close();
});
