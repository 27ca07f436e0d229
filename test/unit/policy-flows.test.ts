import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PolicyError } from '../../gateway/policy/errors';
import { extractPolicyNodes, nodeLabel, readFlowsFile } from '../../gateway/policy/flows';
import { compileDeviceGlob, matchDevices } from '../../gateway/policy/glob';
import { parsePolicyNodes } from '../../gateway/policy/nodes';

const tab = (id: string, disabled = false) => ({ id, type: 'tab', label: id, disabled, info: '' });

describe('reading the flows file', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-flows-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a missing file means no policies', () => {
    expect(readFlowsFile(path.join(dir, 'nope.json'))).toBeNull();
  });

  it('reads an array of nodes; an empty file is an empty flow', () => {
    const f = path.join(dir, 'ok.json');
    fs.writeFileSync(f, JSON.stringify([tab('t1')]));
    expect(readFlowsFile(f)).toEqual([tab('t1')]);
    fs.writeFileSync(f, '  \n');
    expect(readFlowsFile(f)).toEqual([]);
  });

  it('malformed JSON or a non-array is a PolicyError naming the file', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '[{"id": "a",');
    expect(() => readFlowsFile(bad)).toThrow(PolicyError);
    expect(() => readFlowsFile(bad)).toThrow(new RegExp(`${bad.replace(/[.]/g, '\\.')}: not valid JSON`));
    const obj = path.join(dir, 'obj.json');
    fs.writeFileSync(obj, '{"id": "a"}');
    try {
      readFlowsFile(obj);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyError);
      expect((e as PolicyError).code).toBe('GW_ERR_POLICY');
      expect((e as Error).message).toContain(`${obj}: expected a JSON array of Node-RED nodes`);
    }
  });
});

describe('extracting policy nodes', () => {
  const flows = [
    tab('t1'),
    tab('t2', true),
    { id: 'sf', type: 'subflow', name: 'helper', in: [], out: [] },
    {
      id: 'n1',
      type: 'm2m-tariff',
      z: 't1',
      name: 'water price',
      devices: 'purifier-*',
      point: 'water',
      payee: 'ww',
      price: '1',
      x: 1,
      y: 2,
      wires: [],
    },
    { id: 'n2', type: 'm2m-tariff', z: 't1', d: true, devices: '*', point: 'water', payee: 'ww', price: '1', wires: [] },
    { id: 'n3', type: 'm2m-alarm', z: 't2', devices: '*', point: 'cartridge', below: '10', wires: [] },
    { id: 'n4', type: 'inject', z: 't1', wires: [['n1']] },
    { id: 'n5', type: 'm2m-write', z: 't1', device: 'purifier-1', point: 'valve', wires: [[]] },
  ];

  it('keeps active m2m-* nodes in file order, skipping disabled nodes and tabs', () => {
    const { nodes, problems } = extractPolicyNodes(flows);
    expect(problems).toEqual([]);
    expect(nodes.map((n) => n.id)).toEqual(['n1', 'n5']);
  });

  it('accepts the admin API form {rev, flows}', () => {
    expect(extractPolicyNodes({ rev: 'abc', flows }).nodes.map((n) => n.id)).toEqual(['n1', 'n5']);
  });

  it('reports nodes inside subflows, duplicates and non-nodes', () => {
    const { problems } = extractPolicyNodes([
      ...flows,
      { id: 'n6', type: 'm2m-offer', z: 'sf', name: 'in subflow', wires: [] },
      { id: 'n1', type: 'debug', z: 't1' },
      42,
    ]);
    expect(problems.map((p) => p.message)).toEqual([
      'debug (n1): duplicate node id',
      'flows[10]: not a Node-RED node (needs string "id" and "type")',
      'm2m-offer "in subflow" (n6): policy nodes inside a subflow are not supported; put it on a flow tab',
    ]);
  });

  it('throws a PolicyError when the document is not a flow', () => {
    expect(() => extractPolicyNodes({ nodes: [] })).toThrow(PolicyError);
    expect(() => extractPolicyNodes('[]')).toThrow(/expected a JSON array/);
  });

  it('labels nodes with type, name and id', () => {
    expect(nodeLabel({ id: 'n1', type: 'm2m-tariff', name: 'water price' })).toBe('m2m-tariff "water price" (n1)');
    expect(nodeLabel({ id: 'n1', type: 'm2m-tariff', name: '' })).toBe('m2m-tariff (n1)');
  });
});

describe('node properties', () => {
  const parse = (node: Record<string, unknown>) => parsePolicyNodes([{ id: 'n1', z: 't1', wires: [], ...node } as never]);

  it('reads every node type, "" meaning not given', () => {
    const { policies, problems } = parsePolicyNodes([
      {
        id: 'a',
        type: 'm2m-tariff',
        name: 'water price',
        devices: 'purifier-*',
        point: 'water',
        payee: 'waterworks',
        price: '0.012',
        tou: '[{"days":"mon-fri","from":"07:00","to":"22:00","price":"0.015"}]',
      },
      {
        id: 'b',
        type: 'm2m-credit-limit',
        account: 'purifier-1',
        limit: '50',
        action: 'cutoff',
        device: 'purifier-1',
        point: 'valve',
        rearm: '40',
      },
      { id: 'c', type: 'm2m-alarm', devices: 'purifier-*', point: 'cartridge', below: '10', above: '', hysteresis: '2' },
      { id: 'd', type: 'm2m-offer', devices: 'purifier-*', point: 'hardness', price: '0.001', buyers: 'lab-1, lab-2' },
      { id: 'e', type: 'm2m-in', topics: ['readings', 'events'], devices: '' },
      { id: 'f', type: 'm2m-write', device: 'purifier-1', point: 'cycle' },
    ] as never);
    expect(problems).toEqual([]);
    expect(policies.tariffs[0]).toMatchObject({
      nodeId: 'a',
      name: 'water price',
      price: '0.012',
      priceNano: 12_000_000n,
      tou: [{ days: 'mon-fri', from: '07:00', to: '22:00', price: '0.015' }],
    });
    expect(policies.tariffs[0].bands[0]).toMatchObject({ fromMin: 420, toMin: 1320, priceNano: 15_000_000n });
    expect(policies.creditLimits[0]).toMatchObject({
      limitNano: 50_000_000_000n,
      rearmNano: 40_000_000_000n,
      action: 'cutoff',
      device: 'purifier-1',
      point: 'valve',
    });
    expect(policies.alarms[0]).toEqual({ nodeId: 'c', name: '', devices: 'purifier-*', point: 'cartridge', below: '10', hysteresis: '2' });
    expect(policies.offers[0]).toMatchObject({ buyers: ['lab-1', 'lab-2'], priceNano: 1_000_000n });
    expect(policies.ins[0]).toEqual({ nodeId: 'e', name: '', topics: ['readings', 'events'], devices: '*' });
    expect(policies.writes[0]).toEqual({ nodeId: 'f', name: '', device: 'purifier-1', point: 'cycle' });
  });

  it('names the node and property of a bad price', () => {
    const { problems } = parse({ type: 'm2m-tariff', name: 'water price', devices: 'p-*', point: 'water', payee: 'ww', price: 'abc' });
    expect(problems).toEqual([
      { nodeId: 'n1', message: 'm2m-tariff "water price" (n1): price: "abc" is not a decimal with at most 9 fraction digits' },
    ]);
    expect(parse({ type: 'm2m-tariff', devices: 'p-*', point: 'water', payee: 'ww', price: '0.0000000001' }).problems[0].message).toBe(
      'm2m-tariff (n1): price: "0.0000000001" is not a decimal with at most 9 fraction digits',
    );
    expect(parse({ type: 'm2m-tariff', devices: 'p-*', point: 'water', payee: 'ww', price: 0.012 }).problems[0].message).toMatch(
      /price: 0\.012 is a JSON number; write it as a decimal string/,
    );
    expect(parse({ type: 'm2m-tariff', devices: 'p-*', point: 'water', payee: 'ww', price: '-1' }).problems[0].message).toMatch(
      /price: "-1" must not be negative/,
    );
  });

  it('lists every problem of a node', () => {
    const { problems } = parse({
      type: 'm2m-tariff',
      name: 't',
      devices: '',
      point: 'water',
      payee: 'a>b',
      price: '1',
      tou: [{ days: 'mon-fri', from: '7', to: '22:00', price: '1' }],
    });
    expect(problems.map((p) => p.message)).toEqual([
      'm2m-tariff "t" (n1): devices: required',
      'm2m-tariff "t" (n1): payee: "a>b" is not valid (letters, digits, "_", "." or "-")',
      'm2m-tariff "t" (n1): tou[0].from: "7" is not a time HH:MM (00:00..23:59)',
    ]);
  });

  it('checks credit limits, alarms, offers, ins and writes', () => {
    const msgs = (node: Record<string, unknown>) => parse(node).problems.map((p) => p.message.replace(/^[^:]+: /, ''));
    expect(msgs({ type: 'm2m-credit-limit', account: 'a', limit: '5', action: 'cutoff' })).toEqual(['device: required', 'point: required']);
    expect(msgs({ type: 'm2m-credit-limit', account: 'a', limit: '5', action: 'stop' })).toEqual([
      'action: "stop" is not one of alarm, cutoff',
    ]);
    expect(msgs({ type: 'm2m-credit-limit', account: 'a', limit: '5', rearm: '6' })).toEqual(['rearm: 6 must not be above the limit 5']);
    expect(msgs({ type: 'm2m-alarm', devices: '*', point: 'x', hysteresis: '1' })).toEqual(['give below, above or both']);
    expect(msgs({ type: 'm2m-alarm', devices: '*', point: 'x', above: 'high' })).toEqual([
      'above: "high" is not a decimal with at most 9 fraction digits',
    ]);
    expect(msgs({ type: 'm2m-offer', devices: '*', point: 'x', price: '1', buyers: [] })).toEqual([
      'buyers: required (the buyer account ids)',
    ]);
    expect(msgs({ type: 'm2m-in', topics: ['readings', 'alarms'] })).toEqual(['topics: "alarms" is not one of readings, events, vouchers']);
    expect(msgs({ type: 'm2m-write', device: 'p' })).toEqual(['point: required']);
  });
});

describe('device globs', () => {
  const ids = ['purifier-1', 'purifier-2', 'purifier-10', 'meter-1', 'meterx1', 'pump.a'];
  it('matches * and ?', () => {
    expect(matchDevices('purifier-*', ids)).toEqual(['purifier-1', 'purifier-2', 'purifier-10']);
    expect(matchDevices('purifier-?', ids)).toEqual(['purifier-1', 'purifier-2']);
    expect(matchDevices('*', ids)).toEqual(ids);
    expect(matchDevices('*-1', ids)).toEqual(['purifier-1', 'meter-1']);
    expect(matchDevices('meter-1', ids)).toEqual(['meter-1']);
  });

  it('treats other characters literally and allows alternatives', () => {
    expect(matchDevices('meter.1', ids)).toEqual([]);
    expect(matchDevices('pump.a', ids)).toEqual(['pump.a']);
    expect(matchDevices('meter-1, purifier-2', ids)).toEqual(['purifier-2', 'meter-1']);
    expect(compileDeviceGlob('a*')('A1')).toBe(false);
  });
});
