/**
 * The m2m-* Node-RED node package without a browser or a running Node-RED:
 * the edit dialogs' validators accept exactly what the policy compiler
 * accepts (run in a sandbox with a stub RED), the bridge's status per node
 * after a compile, and the runtime nodes' status, event output and clean close
 * against a stub RED runtime.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { NodeRedBridge } from '../../gateway/policy/node-red-bridge';
import { PolicyError } from '../../gateway/policy/errors';
import { parsePolicyNodes } from '../../gateway/policy/nodes';
import type { PolicyNode } from '../../gateway/policy/flows';
import type { PolicyService } from '../../gateway/policy/policy-service';
import { EventBus, type StreamEvents } from '../../gateway/events';
import { silentLogger } from '../../gateway/base/log';

const NODES_DIR = path.join(__dirname, '..', '..', 'flows', 'nodes');
const TYPES = ['m2m-tariff', 'm2m-credit-limit', 'm2m-alarm', 'm2m-offer', 'm2m-in', 'm2m-write', 'm2m-control', 'm2m-service-order'];

interface Def {
  defaults: Record<string, { value: unknown; required?: boolean; validate?: (this: unknown, v: unknown, opt?: object) => unknown }>;
  inputs: number;
  outputs: number;
}

/** Run a node's .html editor script with a stub RED and jQuery; return its registered definition. */
function editorDefinition(type: string): Def {
  const html = fs.readFileSync(path.join(NODES_DIR, `${type}.html`), 'utf8');
  const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html)![1];
  let def: Def | undefined;
  const $ = () => ({ length: 0 });
  vm.runInNewContext(script, { RED: { nodes: { registerType: (_t: string, d: Def) => (def = d) } }, $ });
  expect(html).toContain(`data-template-name="${type}"`);
  expect(html).toContain(`data-help-name="${type}"`);
  return def!;
}

/** What the editor says about one property value: true when valid. */
function editorAccepts(def: Def, node: Record<string, unknown>, prop: string): boolean {
  const d = def.defaults[prop];
  const v = node[prop] ?? '';
  if (d.required && v === '') return false;
  return d.validate ? d.validate.call(node, v, {}) === true : true;
}

/** What the compiler says: no problem mentioning `prop`. */
function compilerAccepts(node: Record<string, unknown>, prop: string): boolean {
  const { problems } = parsePolicyNodes([{ id: 'n', ...node } as PolicyNode]);
  const about = new RegExp(`\\): ${prop}(\\[\\d+\\](\\.\\w+)?)?: `);
  return !problems.some((p) => about.test(p.message));
}

describe('edit dialogs validate like the compiler', () => {
  const base: Record<string, Record<string, unknown>> = {
    'm2m-tariff': { type: 'm2m-tariff', devices: 'purifier-*', point: 'water', payee: 'waterworks', price: '0.012', tou: [] },
    'm2m-credit-limit': { type: 'm2m-credit-limit', account: 'purifier-1', limit: '50', action: 'alarm', device: '', point: '' },
    'm2m-alarm': { type: 'm2m-alarm', devices: 'purifier-*', point: 'cartridge', below: '10', above: '', hysteresis: '2' },
    'm2m-offer': { type: 'm2m-offer', devices: 'purifier-*', point: 'hardness', price: '0.001', buyers: ['lab-1'] },
    'm2m-in': { type: 'm2m-in', topics: ['readings'], devices: '*' },
    'm2m-write': { type: 'm2m-write', device: 'purifier-1', point: 'cycle' },
    'm2m-control': {
      type: 'm2m-control',
      devices: 'purifier-*',
      input: 'hardness',
      output: 'cycle',
      table: [
        { from: '0', set: '1' },
        { from: '12', set: '2' },
      ],
      inMin: '',
      inMax: '',
      outMin: '',
      outMax: '',
      step: '',
      hysteresis: '0.5',
      minIntervalMs: '5000',
    },
    'm2m-service-order': {
      type: 'm2m-service-order',
      devices: 'purifier-*',
      point: 'cartridge',
      below: '15',
      above: '',
      predictDays: '3',
      windowMs: '',
      hysteresis: '5',
      provider: 'https://service.example/orders, service/orders',
      fee: '25',
      payee: 'servicecentre',
      retryMaxMs: '',
    },
  };
  const samples: Array<[string, string, unknown[]]> = [
    ['m2m-tariff', 'price', ['0.012', '1', '+2.5', ' 3 ', '0.000000001', '0.0000000001', 'abc', '-1', '1.', '.5', '1e3', '1,5', '']],
    ['m2m-tariff', 'devices', ['purifier-*', 'a?,b-1', 'meter 1', 'x/y', '$x', '']],
    ['m2m-tariff', 'point', ['water', 'data:hardness', '-x', 'a b', 'p'.repeat(69), 'p'.repeat(70)]],
    ['m2m-tariff', 'payee', ['waterworks', 'a.b_c-d', 'a:b', '_x', 'x'.repeat(64), 'x'.repeat(65)]],
    [
      'm2m-tariff',
      'tou',
      [
        [{ days: 'mon-fri', from: '07:00', to: '22:00', price: '0.015' }],
        [{ days: 'sat,sun', from: '22:00', to: '24:00', price: '1' }],
        [{ days: '*', from: '7:00', to: '22:00', price: '1' }],
        [{ days: 'mon-fri', from: '25:00', to: '22:00', price: '1' }],
        [{ days: 'weekdays', from: '07:00', to: '22:00', price: '1' }],
        [{ days: 'mon', from: '07:00', to: '22:00', price: 'x' }],
        [{ days: 'mon', from: '24:00', to: '22:00', price: '1' }],
      ],
    ],
    ['m2m-credit-limit', 'limit', ['50', '0.5', '-5', 'lots']],
    ['m2m-alarm', 'below', ['10', '-2.5', '1.2.3', 'low']],
    ['m2m-alarm', 'hysteresis', ['2', '0.5', '-1', '']],
    ['m2m-offer', 'buyers', [['lab-1'], ['lab-1', 'lab-2'], [], ['lab 1'], ['lab-1', 'lab-1'], 'lab-1, lab-2']],
    ['m2m-in', 'topics', [['readings'], ['events', 'vouchers'], ['alarms']]],
    ['m2m-write', 'device', ['purifier-1', '', 'a b']],
    [
      'm2m-control',
      'table',
      [
        [{ from: '0', set: '1' }],
        [
          { from: '10', set: '2' },
          { from: '5', set: '3' },
        ],
        [{ from: 'x', set: '2' }],
        [{ from: '1', set: '' }],
        [],
      ],
    ],
    ['m2m-control', 'hysteresis', ['0', '0.5', '-1', 'x', '']],
    ['m2m-control', 'minIntervalMs', ['0', '5000', '-1', '1.5', 'soon', '86400001']],
    ['m2m-service-order', 'predictDays', ['3', '0.5', '0', '-1', 'soon', '']],
    ['m2m-service-order', 'below', ['15', '-2.5', 'low']],
    ['m2m-service-order', 'provider', ['https://a.example/x', 'http://127.0.0.1:8/o', 'svc/orders', 'svc/+/x', 'svc//x', 'ftp://a/b', '']],
    ['m2m-service-order', 'fee', ['25', '0.5', '-1', 'lots']],
    ['m2m-service-order', 'retryMaxMs', ['100', '99', '60000', 'x']],
  ];

  it.each(TYPES)('%s has defaults for every property the compiler reads', (type) => {
    const def = editorDefinition(type);
    for (const prop of Object.keys(base[type]).filter((k) => k !== 'type')) expect(def.defaults).toHaveProperty(prop);
    expect(def.defaults).toHaveProperty('name');
  });

  it.each(samples)('%s %s: editor and compiler agree', (type, prop, values) => {
    const def = editorDefinition(type);
    for (const v of values) {
      const node = { ...base[type], [prop]: v };
      expect({ value: v, editor: editorAccepts(def, node, prop) }).toEqual({ value: v, editor: compilerAccepts(node, prop) });
    }
  });

  it('the valid examples are valid for both', () => {
    for (const type of TYPES) {
      const def = editorDefinition(type);
      for (const prop of Object.keys(def.defaults)) expect([type, prop, editorAccepts(def, base[type], prop)]).toEqual([type, prop, true]);
      expect(parsePolicyNodes([{ id: 'n', ...base[type] } as PolicyNode]).problems).toEqual([]);
    }
  });
});

/** A PolicyService stand-in: apply() succeeds or throws what it is told. */
function fakePolicies(): PolicyService & { next: Error | null } {
  const svc = { version: 0, lastError: null as Error | null, next: null as Error | null };
  return Object.assign(svc, {
    apply(this: typeof svc) {
      if (this.next) throw this.next;
      this.version += 1;
      return { version: this.version };
    },
  }) as unknown as PolicyService & { next: Error | null };
}

describe('NodeRedBridge', () => {
  const make = () => {
    const policies = fakePolicies();
    const rejected: Error[] = [];
    const bridge = new NodeRedBridge({
      policies,
      stream: new EventBus(),
      write: async (_d, _p, v) => ({ value: v }),
      log: silentLogger(),
      onRejected: (e) => rejected.push(e),
    });
    return { policies, bridge, rejected };
  };

  it('shows compiling, then the active version, after each deploy', () => {
    const { bridge } = make();
    let events = 0;
    bridge.on('status', () => events++);
    expect(bridge.statusOf('n1')).toEqual({ fill: 'yellow', shape: 'ring', text: 'compiling' });
    bridge.deployed([]);
    expect(bridge.statusOf('n1')).toEqual({ fill: 'green', shape: 'dot', text: 'v1 active' });
    bridge.deploying();
    expect(bridge.statusOf('n1').fill).toBe('yellow');
    bridge.deployed({ rev: 'x', flows: [] }); // the admin API's {rev, flows} form
    expect(bridge.statusOf('n1').text).toBe('v2 active');
    expect(events).toBe(2);
  });

  it('a rejected deploy: the named node shows its problems, the others that the old version stays', () => {
    const { bridge, policies, rejected } = make();
    bridge.deployed([]);
    policies.next = new PolicyError([
      { nodeId: 'n1', message: 'm2m-tariff "water" (n1): price: "abc" is not a decimal' },
      { nodeId: 'n1', message: 'm2m-tariff "water" (n1): payee: required' },
      { message: 'flows[3]: not a Node-RED node' },
    ]);
    expect(bridge.deployed([]).state).toBe('rejected');
    expect(bridge.statusOf('n1')).toEqual({
      fill: 'red',
      shape: 'dot',
      text: 'm2m-tariff "water" (n1): price: "abc" is not a decimal; m2m-tariff "water" (n1): payee: required',
    });
    expect(bridge.statusOf('n2')).toEqual({ fill: 'red', shape: 'ring', text: 'deploy rejected by other nodes; v1 stays active' });
    expect(policies.lastError).toBe(policies.next);
    expect(rejected).toEqual([policies.next]);
    policies.next = new Error('disk full');
    bridge.deployed([]);
    expect(bridge.statusOf('n2').text).toBe('deploy rejected: disk full; v1 stays active');
    policies.next = null;
    bridge.deployed([]);
    expect(bridge.statusOf('n1').text).toBe('v2 active');
    expect(policies.lastError).toBeNull();
  });

  it("adopts PolicyService's start-up outcome for Node-RED's initial load of the same file, compiles anything else", () => {
    const { bridge, policies, rejected } = make();
    const flows = [{ id: 'n1', type: 'm2m-tariff' }];
    const error = new PolicyError([{ nodeId: 'n1', message: 'm2m-tariff (n1): price: required' }]);
    policies.lastError = error; // load() at start rejected the file
    policies.next = error;
    bridge.expectStartup(flows);
    expect(bridge.deployed(flows).state).toBe('rejected');
    expect(rejected).toEqual([]); // not compiled, logged or recorded a second time
    expect(bridge.statusOf('n1')).toEqual({ fill: 'red', shape: 'dot', text: 'm2m-tariff (n1): price: required' });
    expect(bridge.deployed(flows).state).toBe('rejected'); // a deploy of the same flows is compiled
    expect(rejected).toEqual([error]);
    policies.next = null;
    bridge.expectStartup([]);
    expect(bridge.deployed(flows)).toEqual({ state: 'active', version: 1 }); // different content: compiled
  });

  it('checks one node and matches device globs like the compiler', () => {
    const { bridge } = make();
    expect(bridge.check({ id: 'n1', type: 'm2m-tariff', name: 'w', devices: 'p-*', point: 'water', payee: 'ww', price: '1' })).toEqual([]);
    expect(bridge.check({ id: 'n1', type: 'm2m-tariff', name: 'w', devices: 'p-*', point: 'water', payee: 'ww', price: 1 })[0]).toContain(
      'm2m-tariff "w" (n1): price: 1 is a JSON number',
    );
    const m = bridge.deviceMatcher('purifier-*,meter-1');
    expect(['purifier-1', 'meter-1', 'meter-2', 'xpurifier-1'].filter(m)).toEqual(['purifier-1', 'meter-1']);
  });
});

/** A stub of the RED runtime API the node files use. */
function stubRed(bridge: NodeRedBridge | null) {
  const types = new Map<string, (this: StubNode, config: Record<string, unknown>) => void>();
  const RED = {
    settings: { m2mGateway: bridge ?? undefined },
    nodes: {
      createNode(node: StubNode, config: Record<string, unknown>) {
        node.id = config.id as string;
      },
      registerType(type: string, ctor: (this: StubNode, config: Record<string, unknown>) => void) {
        types.set(type, ctor);
      },
    },
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node-RED nodes are CommonJS modules loaded by path
  for (const t of TYPES) (require(path.join(NODES_DIR, `${t}.js`)) as (red: typeof RED) => void)(RED);
  return (type: string, config: Record<string, unknown>): StubNode => {
    const node = new StubNode();
    types.get(type)!.call(node, { ...config, type });
    return node;
  };
}

class StubNode extends EventEmitter {
  id = '';
  statuses: Array<{ fill: string; shape: string; text: string }> = [];
  sent: unknown[] = [];
  status(s: { fill: string; shape: string; text: string }) {
    this.statuses.push(s);
  }
  send(m: unknown) {
    this.sent.push(m);
  }
  error() {}
  get lastStatus() {
    return this.statuses[this.statuses.length - 1];
  }
  async close(): Promise<void> {
    await Promise.all(
      this.listeners('close').map((fn) => new Promise<void>((resolve) => (fn as (r: boolean, d: () => void) => void)(true, resolve))),
    );
  }
}

describe('runtime nodes', () => {
  it('show the bridge status, their own problems, or that they run outside the gateway', async () => {
    const stream = new EventBus();
    const bridge = new NodeRedBridge({ policies: fakePolicies(), stream, write: async (_d, _p, v) => ({ value: v }), log: silentLogger() });
    const create = stubRed(bridge);
    const good = create('m2m-alarm', { id: 'a1', name: 'low', devices: 'p-*', point: 'cartridge', below: '10', hysteresis: '' });
    const bad = create('m2m-tariff', { id: 't1', name: 'w', devices: 'p-*', point: 'water', payee: 'ww', price: 'abc' });
    expect(good.lastStatus).toEqual({ fill: 'yellow', shape: 'ring', text: 'compiling' });
    expect(bad.lastStatus.fill).toBe('red');
    expect(bad.lastStatus.text).toContain('m2m-tariff "w" (t1): price: "abc"');
    bridge.deployed([]);
    expect(good.lastStatus).toEqual({ fill: 'green', shape: 'dot', text: 'v1 active' });

    // the alarm node sends its own events only
    stream.emit('event', { id: '1', kind: 'alarm', at: 'x', device: 'p-1', point: 'cartridge', data: { policy: 'a1' } });
    stream.emit('event', { id: '2', kind: 'alarm', at: 'x', device: 'p-1', point: 'cartridge', data: { policy: 'other' } });
    expect(good.sent).toEqual([{ topic: 'alarm', device: 'p-1', point: 'cartridge', payload: expect.objectContaining({ id: '1' }) }]);

    await good.close();
    await bad.close();
    expect(stream.listenerCount('event')).toBe(0);
    expect(bridge.listenerCount('status')).toBe(0);

    // control and service-order nodes add their last event to a green status
    const ctl = create('m2m-control', { id: 'c1', devices: 'p-*', input: 'hardness', output: 'cycle', table: [{ from: '0', set: '1' }] });
    const so = create('m2m-service-order', { id: 's1', devices: 'p-*', point: 'cartridge', below: '15', provider: 'svc/orders' });
    bridge.deployed([{ id: 'x', type: 'tab' }]);
    stream.emit('event', {
      id: '3',
      kind: 'control',
      at: 'x',
      device: 'p-1',
      point: 'cycle',
      data: { policy: 'c1', input: 'hardness', inputValue: '12.5', to: '2' },
    });
    stream.emit('event', { id: '4', kind: 'service-order-ack', at: 'x', device: 'p-1', point: 'cartridge', data: { policy: 's1' } });
    expect(ctl.lastStatus).toEqual({ fill: 'green', shape: 'dot', text: 'v2 active · p-1: cycle 2 (hardness 12.5)' });
    expect(so.lastStatus).toEqual({ fill: 'green', shape: 'dot', text: 'v2 active · p-1: order acknowledged' });
    expect(ctl.sent).toHaveLength(1);
    expect(so.sent).toEqual([
      { topic: 'service-order-ack', device: 'p-1', point: 'cartridge', payload: expect.objectContaining({ id: '4' }) },
    ]);
    await ctl.close();
    await so.close();
    expect(stream.listenerCount('event')).toBe(0);

    const outside = stubRed(null)('m2m-offer', { id: 'o1', devices: '*', point: 'x', price: '1', buyers: ['b'] });
    expect(outside.lastStatus).toEqual({ fill: 'red', shape: 'ring', text: 'no gateway: choose an m2m-gateway config node' });
  });

  it('m2m-in filters by topic and device glob; m2m-write answers on output 1 or 2 and always calls done', async () => {
    const stream = new EventBus();
    const writes: unknown[][] = [];
    const bridge = new NodeRedBridge({
      policies: fakePolicies(),
      stream,
      write: async (d, p, v) => {
        writes.push([d, p, v]);
        if (v === '999') throw Object.assign(new Error('write not confirmed'), { code: 'GW_ERR_WRITE_FAILED' });
        return { value: v };
      },
      log: silentLogger(),
    });
    const create = stubRed(bridge);
    const input = create('m2m-in', { id: 'i1', topics: ['readings', 'vouchers'], devices: 'p-*' });
    stream.emit('reading', { device: 'p-1', at: 'x', points: {} });
    stream.emit('reading', { device: 'q-1', at: 'x', points: {} });
    stream.emit('event', { id: '1', kind: 'alarm', at: 'x', device: 'p-1' });
    stream.emit('voucher', { channel: 'a>b', seq: 1 } as unknown as StreamEvents['voucher'][0]); // the node passes vouchers through as they are
    expect(input.sent).toEqual([
      { topic: 'readings', device: 'p-1', payload: { device: 'p-1', at: 'x', points: {} } },
      { topic: 'vouchers', payload: { channel: 'a>b', seq: 1 } },
    ]);

    const w = create('m2m-write', { id: 'w1', device: 'p-1', point: 'cycle' });
    const run = (payload: unknown) =>
      new Promise<{ out: unknown[]; err?: unknown }>((resolve) => {
        let out: unknown[] = [];
        w.emit(
          'input',
          { payload },
          (o: unknown[]) => (out = o),
          (err?: unknown) => resolve({ out, err }),
        );
      });
    const ok = await run(42);
    expect(ok.err).toBeUndefined();
    expect(ok.out).toEqual([{ payload: '42', device: 'p-1', point: 'cycle', requested: '42' }, null]);
    expect(w.lastStatus).toEqual({ fill: 'green', shape: 'dot', text: 'cycle = 42' });
    const failed = await run('999');
    expect(failed.out).toEqual([null, { payload: '999', error: { code: 'GW_ERR_WRITE_FAILED', message: 'write not confirmed' } }]);
    const invalid = await run({ x: 1 });
    expect(invalid.out[1]).toMatchObject({ error: { code: 'GW_ERR_INVALID_VALUE' } });
    expect(writes).toEqual([
      ['p-1', 'cycle', '42'],
      ['p-1', 'cycle', '999'],
    ]);
    await input.close();
    await w.close();
    expect(stream.listenerCount('reading') + stream.listenerCount('voucher') + stream.listenerCount('event')).toBe(0);
  });
});
