/**
 * m2m-service-order without the daemon: compiling the node, predicting days
 * to empty, opening one order per device while the condition holds, closing
 * it past the hysteresis, billing an acknowledged order's fee exactly once
 * through the core (also when a crash separated the store from the ledger),
 * restoring missing events, and delivering to a loopback HTTP provider until
 * it acknowledges.
 */
import { compilePolicies, type CompiledServiceOrder, type PolicySlot } from '../../gateway/policy/compile';
import { PolicyRegistry } from '../../gateway/meter/policy-registry';
import { PolicyError } from '../../gateway/policy/errors';
import { ConsumptionRate, DAY_MS } from '../../gateway/policy/consumption-rate';
import { ServiceOrders } from '../../gateway/policy/service-orders';
import { ServiceFees } from '../../gateway/policy/service-fees';
import { OrderDelivery } from '../../gateway/policy/order-delivery';
import { MemoryOrderStore } from '../../gateway/ledger/order-store';
import type { LedgerEvent } from '../../gateway/ledger/store';
import type { MeterInput } from '../../gateway/meter/metering-service';
import { SlotMap } from '../../gateway/meter/slot-map';
import { ReferenceCore } from '../../gateway/core/reference';
import { ServiceCentreSim } from '../../gateway/cli/demo/service-centre-sim';
import type { OrderView } from '../../gateway/events';
import { silentLogger } from '../../gateway/base/log';
import { waitFor } from '../helper/daemon-process';

const tab = { id: 't', type: 'tab' };
const node = (props: Record<string, unknown>) => ({
  id: 's1',
  type: 'm2m-service-order',
  z: 't',
  devices: 'p-*',
  point: 'cartridge',
  below: '15',
  hysteresis: '5',
  provider: 'https://svc.example/orders, svc/orders',
  fee: '25',
  payee: 'svc',
  wires: [],
  ...props,
});
const devices = [
  { id: 'p-1', account: 'p-1', points: [{ name: 'cartridge' }] },
  { id: 'p-2', account: 'owner', points: [{ name: 'other' }] },
];
const baseSlots = (): PolicySlot[] => [
  { slot: -1, device: 'p-1', point: 'cartridge', account: 'p-1', kind: 'gauge' },
  { slot: -1, device: 'p-2', point: 'other', account: 'owner', kind: 'gauge' },
];

function problems(flows: unknown[]): string[] {
  try {
    compilePolicies(flows, { slots: baseSlots(), timezone: 'UTC', nowMs: 0, version: 1, registry: new PolicyRegistry() });
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as PolicyError).problems.map((p) => p.message);
  }
  return [];
}

describe('compiling m2m-service-order and m2m-control', () => {
  it('names each bad property', () => {
    expect(problems([tab, node({ below: '', provider: 'svc/+/x, ftp://a/b', fee: 25, predictDays: '0', windowMs: 5, payee: '' })])).toEqual(
      [
        'm2m-service-order (s1): predictDays: 0 must be above 0',
        'm2m-service-order (s1): windowMs: 5 is not a whole number of milliseconds in 1000..7776000000',
        'm2m-service-order (s1): provider: "svc/+/x" is not an MQTT topic (no wildcards + #, no empty levels, at most 200 characters)',
        'm2m-service-order (s1): provider: "ftp://a/b" is not an http:// or https:// URL',
        'm2m-service-order (s1): fee: 25 is a JSON number; write it as a decimal string ("25") so it never passes through a float',
      ],
    );
    expect(problems([tab, node({ below: '', fee: '', payee: '' })])).toEqual([
      'm2m-service-order (s1): give below, above and/or predictDays',
    ]);
    expect(problems([tab, node({ payee: '' })])).toEqual(['m2m-service-order (s1): payee: required']);
    expect(
      problems([
        tab,
        {
          id: 'c1',
          type: 'm2m-control',
          z: 't',
          devices: 'p-*',
          input: 'cartridge',
          output: 'cartridge',
          table: [
            { from: '5', set: '1' },
            { from: '2', set: 2 },
          ],
        },
      ]),
    ).toEqual([
      'm2m-control (c1): table[1].from: must be above the row before (5)',
      'm2m-control (c1): output: must not be the input point',
    ]);
    expect(problems([tab, { id: 'c1', type: 'm2m-control', z: 't', devices: 'p-*', input: 'x', output: 'y' }])).toEqual([
      'm2m-control (c1): table: required (a list of {from, set}), or a linear map (inMin, inMax, outMin, outMax)',
    ]);
  });

  it('puts the fee on the service slot as a line device account > payee, and warns about what it cannot reach', () => {
    const slots = [...baseSlots(), { slot: 7, device: 'p-1', point: 'service:cartridge@svc', account: 'p-1', kind: 'counter' as const }];
    const registry = new PolicyRegistry();
    const p = compilePolicies([tab, node({ provider: 'http://10.1.2.3/orders, svc/orders' })], {
      slots,
      timezone: 'UTC',
      nowMs: 0,
      version: 1,
      registry,
      mqtt: false,
    });
    expect(p.serviceOrders).toEqual([
      expect.objectContaining({
        nodeId: 's1',
        matched: ['p-1'],
        fee: '25',
        payee: 'svc',
        provider: { urls: ['http://10.1.2.3/orders'], topics: ['svc/orders'] },
        lines: [{ device: 'p-1', slot: 7, line: 0, channel: 0 }],
      }),
    ]);
    expect(registry.channelInfo(0).id).toBe('p-1>svc');
    expect(p.tables.lines).toEqual([{ line: 0, slot: 7, channel: 0, priceNano: 25_000_000_000n, segments: [] }]);
    expect(p.warnings).toEqual([
      'm2m-service-order (s1): provider "http://10.1.2.3/orders" is plain http: use https:// outside loopback',
      'm2m-service-order (s1): provider topics need the mqtt section in the config; "svc/orders" cannot be reached',
      'm2m-service-order (s1): device "p-2" has no point "cartridge" listed',
    ]);
    expect(() => JSON.stringify(p.serviceOrders)).not.toThrow();
  });

  it('takes the provider as an object {url, topic} and the linear map nested as linear: {…}', () => {
    const compile = (flows: unknown[]) =>
      compilePolicies(flows, { slots: baseSlots(), timezone: 'UTC', nowMs: 0, version: 1, registry: new PolicyRegistry() });
    const p = compile([tab, node({ provider: { url: 'https://svc.example/orders', topic: ['svc/orders'] } })]);
    expect(p.serviceOrders[0]!.provider).toEqual({ urls: ['https://svc.example/orders'], topics: ['svc/orders'] });
    expect(problems([tab, node({ provider: { mail: 'x@y' } })])).toContain(
      'm2m-service-order (s1): provider.mail: unknown (give url and/or topic)',
    );
    const c = compile([
      tab,
      {
        id: 'c1',
        type: 'm2m-control',
        z: 't',
        devices: 'p-*',
        input: 'cartridge',
        output: 'other',
        linear: { inMin: 0, inMax: 100, outMin: '1', outMax: '4', step: '0.5' },
      },
    ]);
    expect(c.controls[0]!.linear).toEqual({ inMin: '0', inMax: '100', outMin: '1', outMax: '4', step: '0.5' });
  });

  it('a control writes a writable setpoint, one control per output', () => {
    const slots: PolicySlot[] = [
      { slot: -1, device: 'p-1', point: 'hardness', account: 'p-1', kind: 'gauge' },
      { slot: -1, device: 'p-1', point: 'cycle', account: 'p-1', kind: 'setpoint', writable: true },
      { slot: -1, device: 'p-1', point: 'ro', account: 'p-1', kind: 'setpoint', writable: false },
      { slot: -1, device: 'p-1', point: 'level', account: 'p-1', kind: 'gauge' },
    ];
    const ctl = (id: string, output: string) => ({
      id,
      type: 'm2m-control',
      z: 't',
      devices: 'p-*',
      input: 'hardness',
      output,
      inMin: '8',
      inMax: 22,
      outMin: '1',
      outMax: '4',
    });
    const compile = (flows: unknown[]) =>
      compilePolicies(flows, { slots, timezone: 'UTC', nowMs: 0, version: 1, registry: new PolicyRegistry() });
    expect(compile([tab, ctl('c1', 'cycle')]).controls).toEqual([
      expect.objectContaining({
        matched: ['p-1'],
        table: [],
        linear: { inMin: '8', inMax: '22', outMin: '1', outMax: '4', step: '1' },
        minIntervalMs: 1000,
        hysteresis: '0',
      }),
    ]);
    expect(() => compile([tab, ctl('c1', 'cycle'), ctl('c2', 'cycle'), ctl('c3', 'ro'), ctl('c4', 'level')])).toThrow(
      /c2\): p-1\/cycle is already controlled by m2m-control \(c1\)[\s\S]*c3\): output "ro" of device "p-1" is not writable[\s\S]*c4\): output "level" of device "p-1" is a gauge/,
    );
  });
});

describe('ConsumptionRate', () => {
  it('predicts days to empty from the recent slope, keeps the old rate across a refill', () => {
    const r = new ConsumptionRate(4 * DAY_MS, 5);
    r.add(0, 100);
    expect(r.daysToEmpty(100)).toBeUndefined();
    for (let day = 1; day <= 4; day++) r.add(day * DAY_MS, 100 - 10 * day); // 10 %/day
    expect(r.daysToEmpty(60)).toBeCloseTo(6, 6);
    r.add(5 * DAY_MS, 100); // a new cartridge: window restarts, the known rate stays
    expect(r.daysToEmpty(100)).toBeCloseTo(10, 6);
    // a fast fall predicts before a quarter of the window; a one-unit flicker does not
    const fast = new ConsumptionRate(DAY_MS);
    [100, 98, 96, 94, 92, 90].forEach((v, i) => fast.add(i * 1000, v));
    expect(fast.daysToEmpty(90)).toBeCloseTo(90 / 2 / 86_400, 9);
    const flicker = new ConsumptionRate(DAY_MS);
    [50, 50, 49, 50, 49, 49].forEach((v, i) => flicker.add(i * 1000, v));
    expect(flicker.daysToEmpty(49)).toBeUndefined();
    const flat = new ConsumptionRate(1000);
    flat.add(0, 50);
    flat.add(1000, 50);
    expect(flat.daysToEmpty(50)).toBe(Infinity);
  });
});

function rig(orderNode: Record<string, unknown> = {}) {
  const store = new MemoryOrderStore();
  const slots = new SlotMap([], () => ({ widthBits: 32, microPerCount: 1n }));
  const core = new ReferenceCore();
  const ingested: MeterInput[] = [];
  const policySlots = baseSlots();
  const fees = new ServiceFees({
    devices,
    slots,
    core,
    metering: { ingest: (i) => ingested.push(...i) },
    policySlots,
    store,
    log: silentLogger(),
    now: () => 5000,
  });
  const flows = [tab, node(orderNode)];
  fees.prepare(flows);
  const p = compilePolicies(flows, { slots: policySlots, timezone: 'UTC', nowMs: 0, version: 1, registry: new PolicyRegistry() });
  const events: LedgerEvent[] = [];
  const delivered: OrderView[] = [];
  const cancelled: string[] = [];
  const orders = new ServiceOrders({
    gatewayId: 'gw',
    store,
    fees,
    delivery: { deliver: (o) => delivered.push(o), cancel: (id) => cancelled.push(id), attempts: () => 3 },
    record: (e) => events.push(...e),
    log: silentLogger(),
    now: () => 9000,
  });
  orders.setOrders(p.serviceOrders);
  const read = (value: string, at = 1000) =>
    orders.observe({ device: 'p-1', at: new Date(at).toISOString(), points: { cartridge: { value, unit: '%' } } });
  return { store, fees, ingested, orders, events, delivered, cancelled, read, compiled: p.serviceOrders as CompiledServiceOrder[] };
}

describe('ServiceOrders', () => {
  it('opens one order while the level is low, closes it past the hysteresis, bills an acknowledged fee once', () => {
    const { store, orders, events, delivered, cancelled, read, ingested } = rig();
    read('20');
    expect(store.list()).toEqual([]);
    read('14');
    read('10');
    read('3');
    expect(store.list().map((o) => [o.state, o.value, o.reason])).toEqual([['open', '14', 'below']]);
    const id = store.list()[0]!.id;
    expect(delivered.map((o) => o.id)).toEqual([id]);
    expect(events.map((e) => e.kind)).toEqual(['service-order']);
    orders.acknowledge(id, 'http');
    orders.acknowledge(id, 'http'); // a repeated ack changes nothing
    expect(events.map((e) => e.kind)).toEqual(['service-order', 'service-order-ack']);
    expect(events[1]).toMatchObject({ device: 'p-1', detail: { order: id, via: 'http', attempts: 3 } });
    read('19'); // above 15 but inside the hysteresis of 5
    expect(store.get(id)!.state).toBe('acked');
    read('100');
    expect(store.get(id)).toMatchObject({ state: 'closed', billed: true, closedAtMs: 9000 });
    expect(cancelled).toContain(id);
    expect(events[2]).toMatchObject({ kind: 'service-order-closed', detail: { order: id, billed: true, fee: '25', payee: 'svc' } });
    // the fee counter: a 0 baseline, then 1 order (micro-units)
    expect(ingested.map((i) => [i.point, i.counterRaw])).toEqual([
      ['service:cartridge@svc', 0n],
      ['service:cartridge@svc', 1_000_000n],
    ]);
    read('100');
    expect(store.list()).toHaveLength(1);
  });

  it('an order closed before it was acknowledged bills nothing', () => {
    const { store, read, ingested, events } = rig();
    read('10');
    read('90');
    expect(store.list()[0]).toMatchObject({ state: 'closed', billed: false });
    expect(events[1]).toMatchObject({ kind: 'service-order-closed', detail: { billed: false, fee: '0' } });
    expect(ingested).toEqual([]);
  });

  it('after a crash between the store and the ledger: the fee reconciled from the store, missing events recorded', () => {
    const a = rig();
    a.read('10');
    const id = a.store.list()[0]!.id;
    a.orders.acknowledge(id, 'mqtt');
    a.read('90');
    // a new process over the same store and a core that never saw the fee (the ledger commit was lost)
    const b = rig();
    for (const o of a.store.list()) b.store.open({ ...o, state: 'open', ackedAtMs: null, closedAtMs: null, billed: false });
    b.store.acknowledge(id, 2000);
    b.store.closeOrder(id, 3000, true);
    b.fees.reconcile();
    expect(b.ingested.map((i) => i.counterRaw)).toEqual([0n, 1_000_000n]);
    b.fees.reconcile(); // nothing more to bill
    expect(b.ingested).toHaveLength(2);
    const asked: number[] = [];
    const ledgerHas = [{ kind: 'service-order', detail: { order: id } }];
    expect(b.orders.restoreEvents((since) => (asked.push(since), ledgerHas))).toBe(2);
    expect(asked).toEqual([1000]); // from the oldest order's opening
    expect(b.events.map((e) => [e.kind, e.tsMs])).toEqual([
      ['service-order-ack', 2000],
      ['service-order-closed', 3000],
    ]);
  });

  it('predictDays opens before the level threshold is reached', () => {
    const { store, read } = rig({ below: '5', predictDays: '2', windowMs: 4 * DAY_MS });
    for (let day = 0; day <= 8; day++) read(String(100 - 10 * day), day * DAY_MS); // 10 %/day
    expect(store.list().map((o) => [o.reason, o.value, o.predictedDays])).toEqual([['predictDays', '20', '2.000000']]);
  });
});

describe('OrderDelivery', () => {
  it('posts the order until the provider answers 2xx with its id, then stops', async () => {
    const centre = new ServiceCentreSim();
    await centre.start();
    const port = centre.port;
    await centre.stop();
    const acks: string[] = [];
    const failures: number[] = [];
    const d = new OrderDelivery({
      onAck: (id) => acks.push(id),
      onFailure: (_o, attempt) => failures.push(attempt),
      log: silentLogger(),
      retryBaseMs: 20,
    });
    const order = { id: 'o-1', device: 'p-1', provider: [`http://127.0.0.1:${port}/orders`] } as OrderView;
    d.deliver(order, 50);
    await waitFor(() => (failures.length >= 3 ? true : undefined), 'three failed attempts', 5000, 10);
    await centre.start(port);
    await waitFor(() => (acks.length > 0 ? true : undefined), 'the acknowledgement', 5000, 10);
    d.cancel('o-1');
    expect(acks).toEqual(['o-1']);
    expect(centre.received.map((o) => o.id)).toEqual(['o-1']);
    d.stop();
    await centre.stop();
  });

  it('over MQTT: publishes on the topic and takes {"id"} on <topic>/ack', async () => {
    const sent: Array<[string, string]> = [];
    const subs = new Map<string, (p: Buffer) => void>();
    const acks: string[] = [];
    const d = new OrderDelivery({
      mqtt: { send: (t, b) => sent.push([t, b]), subscribe: (t, on) => subs.set(t, on) },
      onAck: (id) => acks.push(id),
      onFailure: () => undefined,
      log: silentLogger(),
      retryBaseMs: 10_000,
    });
    d.deliver({ id: 'o-2', device: 'p-1', provider: ['svc/orders'] } as OrderView, 60_000);
    await new Promise((r) => setImmediate(r));
    expect(sent.map(([t, b]) => [t, JSON.parse(b).id, JSON.parse(b).ackTopic])).toEqual([['svc/orders', 'o-2', 'svc/orders/ack']]);
    subs.get('svc/orders/ack')!(Buffer.from('{"id":"other"}'));
    subs.get('svc/orders/ack')!(Buffer.from('{"id":"o-2"}'));
    expect(acks).toEqual(['o-2']);
    d.stop();
  });
});
