import * as fs from 'node:fs';
import * as path from 'node:path';
import { compilePolicies, type CompileContext, type PolicySlot } from '../../gateway/policy/compile';
import { PolicyError } from '../../gateway/policy/errors';
import { readFlowsFile } from '../../gateway/policy/flows';
import { PolicyRegistry } from '../../gateway/meter/policy-registry';

const DEFAULT_FLOWS = path.join(__dirname, '../../flows/default-flows.json');
const NOW = Date.parse('2026-03-25T12:00:00Z'); // a Wednesday, four days before the spring DST change

/** The demo devices: purifier-1 (generic points) and meter-1 (eastron-sdm630). */
function demoSlots(): PolicySlot[] {
  const slots: PolicySlot[] = [];
  let n = 0;
  const add = (device: string, point: string, kind: PolicySlot['kind']) => slots.push({ slot: n++, device, point, account: device, kind });
  add('purifier-1', 'water', 'counter');
  add('purifier-1', 'hardness', 'gauge');
  add('purifier-1', 'cartridge', 'gauge');
  add('purifier-1', 'cycle', 'setpoint');
  add('purifier-1', 'valve', 'switch');
  add('meter-1', 'import_kwh', 'counter');
  add('meter-1', 'export_kwh', 'counter');
  for (const p of ['power_w', 'voltage_l1', 'voltage_l2', 'voltage_l3', 'current_l1', 'current_l2', 'current_l3'])
    add('meter-1', p, 'gauge');
  return slots;
}

function ctx(over: Partial<CompileContext> = {}): CompileContext {
  return { slots: demoSlots(), timezone: 'Europe/Oslo', nowMs: NOW, version: 3, registry: new PolicyRegistry(), ...over };
}

const tab = { id: 't1', type: 'tab', label: 'Policies', disabled: false, info: '' };
const tariff = (id: string, props: Record<string, unknown>) => ({
  id,
  type: 'm2m-tariff',
  z: 't1',
  name: '',
  devices: 'purifier-*',
  point: 'water',
  payee: 'waterworks',
  price: '0.012',
  x: 100,
  y: 100,
  wires: [],
  ...props,
});

function policyError(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return e as PolicyError;
  }
  throw new Error('compiled without error');
}

describe('default-flows.json', () => {
  const flows = readFlowsFile(DEFAULT_FLOWS);

  it('is a Node-RED flow: one tab "Purifier policies", nodes placed on it', () => {
    const nodes = flows as Array<Record<string, unknown>>;
    const tabs = nodes.filter((n) => n.type === 'tab');
    expect(tabs).toEqual([expect.objectContaining({ label: 'Purifier policies', disabled: false })]);
    for (const n of nodes.filter((x) => x.type !== 'tab')) {
      expect(n).toEqual(expect.objectContaining({ z: tabs[0].id, x: expect.any(Number), y: expect.any(Number), wires: expect.any(Array) }));
    }
  });

  it('compiles against the demo slots', () => {
    const c = ctx();
    const p = compilePolicies(flows, c);
    expect(p.version).toBe(3);
    expect(p.warnings).toEqual([]);
    expect(p.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(p.horizon).toEqual({ fromMs: NOW - 7 * 86_400_000, toMs: NOW + 35 * 86_400_000 });

    expect(p.tariffs).toEqual([
      {
        nodeId: 'a1f0c0de00000010',
        name: 'water price',
        line: 0,
        slot: 0,
        device: 'purifier-1',
        point: 'water',
        payee: 'waterworks',
        account: 'purifier-1',
        channel: 0,
        price: '0.012',
        tou: [{ days: 'mon-fri', from: '07:00', to: '22:00', price: '0.015' }],
      },
      {
        nodeId: 'a1f0c0de00000011',
        name: 'grid energy',
        line: 1,
        slot: 5,
        device: 'meter-1',
        point: 'import_kwh',
        payee: 'grid',
        account: 'meter-1',
        channel: 1,
        price: '1.25',
        tou: [],
      },
    ]);
    expect(c.registry.channelInfo(0)).toEqual({ id: 'purifier-1>waterworks', payer: 'purifier-1', payee: 'waterworks' });
    expect(c.registry.channelInfo(1)).toEqual({ id: 'meter-1>grid', payer: 'meter-1', payee: 'grid' });

    const t = p.tables;
    expect(t.version).toBe(3);
    expect(t.channels).toEqual([
      { channel: 0, account: 0 },
      { channel: 1, account: 1 },
    ]);
    expect(t.creditLimits).toEqual([{ account: 0, limitNano: 50_000_000_000n, rearmNano: 50_000_000_000n }]);
    expect(t.lines.map((l) => [l.line, l.slot, l.channel, l.priceNano, l.segments.length])).toEqual([
      [0, 0, 0, 12_000_000n, 31], // 30 weekdays in six weeks + Wed 29 April until 12:00Z
      [1, 5, 1, 1_250_000_000n, 0],
    ]);
    const water = t.lines[0].segments;
    // The horizon starts Wed 18 March 12:00Z, inside that day's band.
    expect(water[0]).toEqual({
      fromMs: Date.parse('2026-03-18T12:00:00Z'),
      toMs: Date.parse('2026-03-18T21:00:00Z'),
      priceNano: 15_000_000n,
    });
    expect(water).toContainEqual({
      fromMs: Date.parse('2026-03-27T06:00:00Z'),
      toMs: Date.parse('2026-03-27T21:00:00Z'),
      priceNano: 15_000_000n,
    });
    expect(water).toContainEqual({
      fromMs: Date.parse('2026-03-30T05:00:00Z'),
      toMs: Date.parse('2026-03-30T20:00:00Z'),
      priceNano: 15_000_000n,
    });
    for (let i = 1; i < water.length; i++) expect(water[i].fromMs).toBeGreaterThanOrEqual(water[i - 1].toMs);

    expect(p.creditLimits).toEqual([
      { nodeId: 'a1f0c0de00000020', name: 'purifier credit', account: 'purifier-1', limit: '50', rearm: '50', action: 'alarm' },
    ]);
    expect(p.alarms).toEqual([
      {
        nodeId: 'a1f0c0de00000030',
        name: 'cartridge low',
        devices: 'purifier-*',
        point: 'cartridge',
        below: '10',
        hysteresis: '2',
        matched: ['purifier-1'],
      },
    ]);
    expect(p.offers).toEqual([
      {
        nodeId: 'a1f0c0de00000040',
        name: 'hardness for sale',
        devices: 'purifier-*',
        point: 'hardness',
        price: '0.001',
        buyers: ['lab-1'],
        credit: '0.01',
        matched: ['purifier-1'],
        lines: [],
      },
    ]);
    expect(p.writes).toEqual([]);
    expect(p.ins).toEqual([]);
    expect(() => JSON.stringify({ ...p, tables: undefined })).not.toThrow();
  });

  it('runs the purifier: hardness -> cycle control, predictive cartridge orders billed to the service centre', () => {
    const slots = [
      ...demoSlots(),
      { slot: 21, device: 'purifier-1', point: 'service:cartridge@servicecentre', account: 'purifier-1', kind: 'counter' as const },
    ];
    const c = ctx({ slots: slots.map((s) => (s.point === 'cycle' ? { ...s, writable: true } : s)) });
    const p = compilePolicies(flows, c);
    expect(p.warnings).toEqual([]);
    expect(p.controls).toEqual([
      expect.objectContaining({
        nodeId: 'a1f0c0de00000050',
        input: 'hardness',
        output: 'cycle',
        hysteresis: '0.5',
        minIntervalMs: 5000,
        matched: ['purifier-1'],
      }),
    ]);
    expect(p.controls[0].table.map((r) => [r.from, r.set])).toEqual([
      ['0', '1'],
      ['6', '2'],
      ['12', '3'],
      ['18', '4'],
    ]);
    expect(p.serviceOrders).toEqual([
      expect.objectContaining({
        nodeId: 'a1f0c0de00000060',
        point: 'cartridge',
        below: '20',
        predictDays: '0.0006',
        windowMs: 20_000,
        fee: '45',
        payee: 'servicecentre',
        matched: ['purifier-1'],
        lines: [{ device: 'purifier-1', slot: 21, line: 2, channel: 2 }],
      }),
    ]);
    expect(c.registry.channelInfo(2)).toEqual({ id: 'purifier-1>servicecentre', payer: 'purifier-1', payee: 'servicecentre' });
  });

  it('meters data deliveries when the daemon gives a data:<point> slot', () => {
    const slots = [
      ...demoSlots(),
      { slot: 20, device: 'purifier-1', point: 'data:hardness', account: 'purifier-1', kind: 'counter' as const },
    ];
    const c = ctx({ slots });
    const p = compilePolicies(flows, c);
    expect(p.offers[0].lines).toEqual([{ device: 'purifier-1', buyer: 'lab-1', slot: 20, line: 2, channel: 2 }]);
    expect(c.registry.channelInfo(2)).toEqual({ id: 'lab-1>purifier-1', payer: 'lab-1', payee: 'purifier-1' });
    expect(p.tables.lines[2]).toEqual({ line: 2, slot: 20, channel: 2, priceNano: 1_000_000n, segments: [] });
  });
});

describe('compiling policies', () => {
  it('no flows file means empty tables', () => {
    const p = compilePolicies(null, ctx());
    expect(p.tables).toEqual({ version: 3, lines: [], channels: [], creditLimits: [] });
    expect(p.tariffs).toEqual([]);
  });

  it('matches a tariff glob against every device and prices each match on its own line', () => {
    const slots: PolicySlot[] = ['purifier-1', 'purifier-2', 'purifier-10'].map((d, i) => ({
      slot: i,
      device: d,
      point: 'water',
      account: `acct-${d}`,
      kind: 'counter',
    }));
    const c = ctx({ slots });
    const p = compilePolicies([tab, tariff('n1', { devices: 'purifier-?' })], c);
    expect(p.tariffs.map((t) => [t.device, t.account, t.line, t.channel])).toEqual([
      ['purifier-1', 'acct-purifier-1', 0, 0],
      ['purifier-2', 'acct-purifier-2', 1, 1],
    ]);
    expect(p.tables.channels).toEqual([
      { channel: 0, account: 0 },
      { channel: 1, account: 1 },
    ]);
  });

  it('names the node of a bad price, and lists every problem of every node', () => {
    const e = policyError(() =>
      compilePolicies(
        [
          tab,
          tariff('n1', { name: 'water price', price: 'abc' }),
          tariff('n2', { name: 'energy', devices: 'meter-*', point: 'power_w', payee: 'grid', price: '1' }),
          { id: 'n3', type: 'm2m-credit-limit', z: 't1', account: 'purifier-1', limit: 'lots', action: 'alarm', wires: [] },
        ],
        ctx(),
      ),
    );
    expect(e.code).toBe('GW_ERR_POLICY');
    expect(e.problems.map((p) => p.message)).toEqual([
      'm2m-tariff "water price" (n1): price: "abc" is not a decimal with at most 9 fraction digits',
      'm2m-credit-limit (n3): limit: "lots" is not a decimal with at most 9 fraction digits',
      'm2m-tariff "energy" (n2): point "power_w" of device "meter-1" is a gauge; tariffs price counter points',
    ]);
    expect(e.problems.map((p) => p.nodeId)).toEqual(['n1', 'n3', 'n2']);
    expect(e.message).toContain('m2m-tariff "water price" (n1): price: "abc" is not a decimal with at most 9 fraction digits');
  });

  it('selects the devices that have the point; a device without it is left out, not an error', () => {
    // meter-1 matches "*" but has no "water": the tariff prices purifier-1 only.
    const p = compilePolicies([tab, tariff('n1', { devices: '*', point: 'water' })], ctx());
    expect(p.tariffs.map((t) => [t.device, t.point])).toEqual([['purifier-1', 'water']]);
    expect(p.warnings).toEqual([]);
  });

  it('rejects a glob that selects no device with the point, naming the node', () => {
    const e = policyError(() => compilePolicies([tab, tariff('n1', { devices: 'meter-*', point: 'water' })], ctx()));
    expect(e.problems.map((p) => [p.nodeId, p.message])).toEqual([
      ['n1', 'm2m-tariff (n1): devices "meter-*" select no device with point "water" (matched: meter-1)'],
    ]);
  });

  it('rejects two tariffs for the same device, point and payee', () => {
    const e = policyError(() =>
      compilePolicies([tab, tariff('n1', { name: 'a' }), tariff('n2', { name: 'b', devices: 'purifier-1', price: '0.02' })], ctx()),
    );
    expect(e.problems.map((p) => p.message)).toEqual([
      'm2m-tariff "b" (n2): purifier-1/water is already priced for payee "waterworks" by m2m-tariff "a" (n1)',
    ]);
    // A second payee for the same point is a second line, not a conflict.
    const p = compilePolicies([tab, tariff('n1', {}), tariff('n2', { payee: 'sewer', price: '0.004' })], ctx());
    expect(p.tariffs.map((t) => [t.payee, t.line, t.channel])).toEqual([
      ['waterworks', 0, 0],
      ['sewer', 1, 1],
    ]);
  });

  it('rejects overlapping time-of-use bands with the node named', () => {
    const e = policyError(() =>
      compilePolicies(
        [
          tab,
          tariff('n1', {
            name: 'water price',
            tou: [
              { days: 'mon-fri', from: '07:00', to: '22:00', price: '2' },
              { days: 'fri', from: '21:00', to: '23:00', price: '3' },
            ],
          }),
        ],
        ctx(),
      ),
    );
    expect(e.problems[0].message).toMatch(
      /^m2m-tariff "water price" \(n1\): tou: bands "mon-fri 07:00-22:00" and "fri 21:00-23:00" overlap \(on 2026-03-20\)$/,
    );
  });

  it('checks credit limits: one per account, cutoff on a switch point', () => {
    const limit = (id: string, props: Record<string, unknown>) => ({
      id,
      type: 'm2m-credit-limit',
      z: 't1',
      account: 'purifier-1',
      limit: '50',
      action: 'alarm',
      wires: [],
      ...props,
    });
    const e = policyError(() =>
      compilePolicies([tab, limit('c1', {}), limit('c2', { action: 'cutoff', device: 'purifier-1', point: 'cycle' })], ctx()),
    );
    expect(e.problems.map((p) => p.message)).toEqual([
      'm2m-credit-limit (c2): account "purifier-1" already has a credit limit: m2m-credit-limit (c1)',
      'm2m-credit-limit (c2): cutoff point "cycle" of device "purifier-1" is a setpoint; a cutoff writes a switch point',
    ]);
    const p = compilePolicies([tab, limit('c1', { action: 'cutoff', device: 'purifier-1', point: 'valve', rearm: '45.5' })], ctx());
    expect(p.creditLimits).toEqual([
      { nodeId: 'c1', name: '', account: 'purifier-1', limit: '50', rearm: '45.5', action: 'cutoff', device: 'purifier-1', point: 'valve' },
    ]);
    expect(p.tables.creditLimits).toEqual([{ account: 0, limitNano: 50_000_000_000n, rearmNano: 45_500_000_000n }]);
  });

  it('rejects globs selecting nothing (tariffs, alarms); warns about m2m-write and m2m-in', () => {
    const e = policyError(() =>
      compilePolicies(
        [
          tab,
          tariff('n1', { devices: 'pump-*' }),
          { id: 'a1', type: 'm2m-alarm', z: 't1', devices: 'purifier-*', point: 'pressure', above: '6', wires: [] },
        ],
        ctx(),
      ),
    );
    expect(e.problems.map((p) => p.message)).toEqual([
      'm2m-tariff (n1): devices "pump-*" match no configured device',
      'm2m-alarm (a1): devices "purifier-*" select no device with point "pressure" (matched: purifier-1)',
    ]);
    const p = compilePolicies(
      [
        tab,
        { id: 'w1', type: 'm2m-write', z: 't1', device: 'boiler', point: 'x', wires: [] },
        { id: 'i1', type: 'm2m-in', z: 't1', topics: 'events', devices: 'meter-*', wires: [[]] },
      ],
      ctx(),
    );
    expect(p.warnings).toEqual(['m2m-write (w1): device "boiler" is not configured']);
    expect(p.tariffs).toEqual([]);
    expect(p.ins).toEqual([{ nodeId: 'i1', name: '', topics: ['events'], devices: 'meter-*', matched: ['meter-1'] }]);
    expect(p.writes).toEqual([{ nodeId: 'w1', name: '', device: 'boiler', point: 'x' }]);
  });

  it('ignores disabled nodes and disabled tabs', () => {
    const p = compilePolicies(
      [tab, { ...tab, id: 't2', disabled: true }, tariff('n1', { d: true, price: 'abc' }), tariff('n2', { z: 't2', price: 'abc' })],
      ctx(),
    );
    expect(p.tariffs).toEqual([]);
  });

  it('hashes policy content, not layout, names or ids', () => {
    const base = [tab, tariff('n1', { name: 'a', tou: [{ days: 'mon-fri', from: '07:00', to: '22:00', price: '0.015' }] })];
    const h = compilePolicies(base, ctx()).hash;
    const moved = [
      tab,
      tariff('zz', { name: 'b', x: 500, y: 9, price: '0.0120', tou: [{ days: 'mon-fri', from: '07:00', to: '22:00', price: '0.01500' }] }),
    ];
    expect(compilePolicies(moved, ctx()).hash).toBe(h);
    expect(compilePolicies([tab, tariff('n1', { price: '0.013' })], ctx()).hash).not.toBe(h);
    expect(compilePolicies(null, ctx()).hash).toBe(compilePolicies([tab], ctx()).hash);
  });

  it('keeps registry indices stable across recompiles and interns nothing when a compile fails', () => {
    const c = ctx();
    const first = compilePolicies(
      [tab, tariff('n1', {}), tariff('n2', { devices: 'meter-1', point: 'import_kwh', payee: 'grid', price: '1' })],
      c,
    );
    expect(first.tariffs.map((t) => t.line)).toEqual([0, 1]);
    const snap = c.registry.snapshot();

    expect(() => compilePolicies([tab, tariff('n3', { devices: 'meter-1', point: 'export_kwh', payee: 'grid', price: 'x' })], c)).toThrow(
      PolicyError,
    );
    expect(c.registry.snapshot()).toEqual(snap);

    // Drop the water tariff, add an export tariff: the grid line keeps index 1, the new one gets 2.
    const second = compilePolicies(
      [
        tab,
        tariff('n2', { devices: 'meter-1', point: 'import_kwh', payee: 'grid', price: '1' }),
        tariff('n3', { devices: 'meter-1', point: 'export_kwh', payee: 'grid', price: '0.5' }),
      ],
      { ...c, version: 4 },
    );
    expect(second.tariffs.map((t) => [t.point, t.line, t.channel])).toEqual([
      ['import_kwh', 1, 1],
      ['export_kwh', 2, 1],
    ]);
    expect(second.tables.lines.map((l) => l.line)).toEqual([1, 2]);
    expect(second.tables.channels).toHaveLength(2); // the water channel stays known
    // Restarting from persisted names gives the same indices.
    const again = compilePolicies(fs.existsSync(DEFAULT_FLOWS) ? readFlowsFile(DEFAULT_FLOWS) : null, {
      ...c,
      registry: PolicyRegistry.restore(c.registry.snapshot()),
    });
    expect(again.tariffs.map((t) => [t.point, t.line])).toEqual([
      ['water', 0],
      ['import_kwh', 1],
    ]);
  });

  it('rejects an unknown timezone and a document that is not a flow', () => {
    expect(() => compilePolicies([], ctx({ timezone: 'Europe/Nowhere' }))).toThrow(PolicyError);
    expect(() => compilePolicies({ id: 'x' }, ctx())).toThrow(/expected a JSON array/);
  });
});
