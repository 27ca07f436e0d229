/**
 * Property-based bad-input tests (fast-check): every input from a wire, a
 * file or a user is validated, and a bad one gets the area's coded error,
 * never a crash (docs/architecture.md, "Every input … is validated").
 *
 *  - parseConfig: arbitrary YAML-ish text, character-level damage and
 *    structural mutations of valid configs → a result or a ConfigError whose
 *    issues each say what and where; comment/whitespace edits change nothing.
 *  - compilePolicies: mutated flows → a result or a PolicyError whose node
 *    problems name their node.
 *  - RTU framer and P1 parser: random bytes and damaged valid frames never
 *    throw, and only well-formed frames come out.
 *  - checkVoucher: mutated vouchers never throw; only the untouched one is ok.
 *
 * Run counts are fixed and small so the suite stays fast; a failure prints
 * fast-check's seed and the shrunk counterexample.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ConfigError } from '../../gateway/config/errors';
import { EXAMPLE_CONFIG } from '../../gateway/config/example';
import { parseConfig } from '../../gateway/config/load';
import { P1TelegramParser, p1Crc } from '../../gateway/links/p1-framer';
import { crc16Modbus, hasValidCrc, RtuFramer, withCrc, type RtuExpectation } from '../../gateway/links/rtu-framer';
import { compilePolicies, type CompileContext, type PolicySlot } from '../../gateway/policy/compile';
import { PolicyError } from '../../gateway/policy/errors';
import { PolicyRegistry } from '../../gateway/meter/policy-registry';
import type { PayerKey } from '../../gateway/settle/keys';
import { signVoucher, VOUCHER_FIELDS, type SignedVoucher } from '../../gateway/settle/voucher';
import { checkVoucher } from '../../gateway/settle/voucher-check';
import { VALID, VALID_WITH_CRC } from '../sim/p1-samples';
import { DESIGN_EXAMPLE } from '../helper/design-example';

const BASE = '/srv/m2m';

/** A value of any shape a hostile or careless input may hold. */
const nastyString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '0x1F',
    '1e999',
    '-0',
    '.inf',
    '.nan',
    '~',
    'null',
    'yes',
    'NaN',
    '0.1',
    '+1',
    '007',
    '\u0000',
    '\u202e',
    '💧',
    'a'.repeat(5000),
    '40001',
    '4999999999999999999999',
    'string(9999999)',
    '../../etc/passwd',
  ),
);
const hugeNumber = fc.oneof(
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER * 1024, 5e-324, -0, 0.1, 65536, -1, 4294967296),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
/** Nested arrays/objects `depth` levels deep. */
const deep = fc.tuple(fc.integer({ min: 20, max: 120 }), fc.boolean()).map(([depth, obj]) => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = obj ? { k: v } : [v];
  return v;
});
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: nastyString },
  { weight: 2, arbitrary: hugeNumber },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}) },
);

// ---------------------------------------------------------------------------------------------
// Configuration

/** docs/config.md's example plus a settlement section, a profile device and a P1 meter. */
const DESIGN_CONFIG =
  DESIGN_EXAMPLE.trimStart().replace(
    '  topicPrefix: m2m\nlinks:',
    '  topicPrefix: m2m\nsettlement: { threshold: "0.5", intervalS: 60 }\nlinks:',
  ) +
  `  - id: meter-1
    link: rs485
    unitId: 2
    profile: eastron-sdm630
  - id: home
    link: p1
    profile: dsmr-5
`;
const VALID_CONFIGS = [DESIGN_CONFIG, EXAMPLE_CONFIG];

/** parseConfig must answer a config or a ConfigError listing what is wrong, and nothing else. */
function configOutcome(text: string): 'ok' | ConfigError {
  try {
    parseConfig(text, BASE, `${BASE}/m2m-gateway.yaml`);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      throw new Error(
        `parseConfig threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message} for ${JSON.stringify(text.slice(0, 300))}`,
        { cause: e },
      );
    }
    expect(e.code).toBe('GW_ERR_CONFIG');
    expect(e.issues.length).toBeGreaterThan(0);
    for (const issue of e.issues) {
      expect(typeof issue.path).toBe('string');
      expect(typeof issue.message).toBe('string');
      expect(issue.message.trim()).not.toBe('');
      if (issue.line !== undefined) expect(Number.isInteger(issue.line) && issue.line >= 1).toBe(true);
    }
    return e;
  }
}

type Json = unknown;
type Container = Record<string, Json> | Json[];
const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

/** Every container in `root` with the path to it (root included). */
function containers(root: Json): Container[] {
  const out: Container[] = [];
  const walk = (v: Json, depth: number) => {
    if (!isContainer(v) || depth > 12) return;
    out.push(v);
    for (const c of Array.isArray(v) ? v : Object.values(v)) walk(c, depth + 1);
  };
  walk(root, 0);
  return out;
}

type Mutation = { at: number; op: 'drop' | 'add' | 'retype' | 'retype-all-of-key'; pick: number; key: string; value: unknown };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('drop', 'add', 'retype', 'retype', 'retype-all-of-key'),
  pick: fc.nat(),
  key: fc.oneof(
    fc.constantFrom(
      'id',
      'type',
      'points',
      'scale',
      'address',
      'register',
      'version',
      'gateway',
      'unitId',
      'extra',
      '__proto__',
      'constructor',
    ),
    fc.string({ maxLength: 12 }),
  ),
  value: anyValue,
});

/** Apply one mutation to a cloned JSON tree (in place). */
function mutate(root: Json, m: Mutation): void {
  const cs = containers(root);
  if (cs.length === 0) return;
  const c = cs[m.at % cs.length];
  if (Array.isArray(c)) {
    const i = c.length === 0 ? 0 : m.pick % c.length;
    if (m.op === 'drop') c.splice(i, 1);
    else if (m.op === 'add') c.splice(i, 0, m.value);
    else if (c.length > 0) c[i] = m.value;
    return;
  }
  const keys = Object.keys(c);
  if (m.op === 'add' || keys.length === 0) {
    Object.defineProperty(c, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
    return;
  }
  const key = keys[m.pick % keys.length];
  if (m.op === 'drop') delete c[key];
  else if (m.op === 'retype') c[key] = m.value;
  else for (const other of cs) if (!Array.isArray(other) && Object.prototype.hasOwnProperty.call(other, key)) other[key] = m.value;
}

/** YAML-ish fragments: structure characters, keys the schema knows, tags, anchors, odd scalars. */
const yamlToken = fc.oneof(
  fc.constantFrom(
    '\n',
    '\n  ',
    '\n    ',
    '  ',
    ': ',
    ':',
    '- ',
    '-',
    '{',
    '}',
    '[',
    ']',
    ',',
    '"',
    "'",
    '#',
    '|',
    '>',
    '? ',
    '&a ',
    '*a',
    '<<: ',
    '---\n',
    '...\n',
    '%YAML 1.1\n',
    '\t',
    '!!binary ',
    '!!set ',
    '!!omap ',
    '!!timestamp ',
    '!!str ',
    '!!int ',
    '!!float ',
    '!foo ',
    '!<tag:x> ',
    'version',
    'version: 1',
    'gateway',
    'id',
    'links',
    'devices',
    'points',
    'type',
    'modbus-tcp',
    'dsmr-p1',
    'counter',
    'holding',
    'address',
    'register',
    'scale',
    '1',
    '0',
    '-1',
    '1e400',
    '0x10',
    '0o7',
    '.5',
    '"0.1"',
    'null',
    '~',
    'true',
    'yes',
    '2001-12-14',
    '\\u0000',
    '\u00a0',
    '\ufeff',
    '💧',
  ),
  fc.string({ maxLength: 6 }),
);
const yamlishText = fc.array(yamlToken, { maxLength: 60 }).map((ts) => ts.join(''));

/** Character-level damage to a text: insert, delete, replace or duplicate a slice. */
const textEdit = fc.record({
  at: fc.nat(),
  len: fc.nat({ max: 8 }),
  op: fc.constantFrom('insert', 'delete', 'replace', 'duplicate'),
  with: fc.oneof(yamlToken, fc.string({ unit: 'binary', maxLength: 4 })),
});
function editText(text: string, e: { at: number; len: number; op: string; with: string }): string {
  const i = e.at % (text.length + 1);
  switch (e.op) {
    case 'insert':
      return text.slice(0, i) + e.with + text.slice(i);
    case 'delete':
      return text.slice(0, i) + text.slice(i + e.len);
    case 'replace':
      return text.slice(0, i) + e.with + text.slice(i + e.with.length);
    default:
      return text.slice(0, i + e.len) + text.slice(i, i + e.len) + text.slice(i + e.len);
  }
}

describe('parseConfig on bad input', () => {
  it('the valid bases load', () => {
    for (const t of VALID_CONFIGS) expect(configOutcome(t)).toBe('ok');
  });

  it('arbitrary YAML-ish text: a config or a ConfigError, never anything else', () => {
    fc.assert(
      fc.property(yamlishText, (text) => void configOutcome(text)),
      { numRuns: 400 },
    );
  });

  it('arbitrary unicode / binary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => void configOutcome(text)),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => void configOutcome(`version: 1\n${text}`)),
      { numRuns: 200 },
    );
  });

  it('character-level damage to valid configs', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID_CONFIGS), fc.array(textEdit, { minLength: 1, maxLength: 4 }), (text, edits) => {
        void configOutcome(edits.reduce(editText, text));
      }),
      { numRuns: 300 },
    );
  });

  it('structurally mutated valid configs (keys dropped, added, retyped; huge numbers, unicode, deep nesting)', () => {
    const bases = VALID_CONFIGS.map((t) => parseYaml(t) as Json);
    fc.assert(
      fc.property(fc.nat({ max: bases.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (b, ms) => {
        const tree = structuredClone(bases[b]);
        for (const m of ms) mutate(tree, m);
        void configOutcome(stringifyYaml(tree, { aliasDuplicateObjects: false }));
      }),
      { numRuns: 300 },
    );
  });

  it('YAML features that build other kinds of values (tags, anchors, merge keys, alias bombs) are ConfigErrors', () => {
    const bomb = `version: 1\na: &a [1, 2]\nb: &b [${'*a,'.repeat(20)}*a]\nc: [${'*b,'.repeat(20)}*b]\n`;
    const cases = [
      bomb,
      'version: 1\ngateway:\n  <<: *nope\n',
      'version: 1\ngateway: !!set { id, dataDir }\n',
      'version: 1\ngateway: !!omap [ { id: x } ]\n',
      'version: 1\ngateway: { id: !!binary aGVsbG8= , timezone: !!timestamp 2001-12-14 }\nlinks: !!pairs [ a: 1 ]\n',
      '? [a, b]\n: 1\nversion: 1\n',
    ];
    for (const text of cases) expect(configOutcome(text)).toBeInstanceOf(ConfigError);
  });

  it('a valid config stays valid, and the same, after comment and whitespace edits', () => {
    const commentText = fc
      .string({ maxLength: 30 })
      // eslint-disable-next-line no-control-regex -- control characters are what the generator must drop
      .map((s) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff]/g, ''));
    const lineEdit = fc.record({
      trailing: fc.constantFrom('', ' ', '   '),
      comment: fc.option(commentText, { nil: undefined }),
      before: fc.array(
        fc.oneof(
          fc.constant(''),
          fc.constant('   '),
          commentText.map((c) => `# ${c}`),
          commentText.map((c) => `    # ${c}`),
        ),
        { maxLength: 2 },
      ),
    });
    for (const base of VALID_CONFIGS) {
      const want = parseConfig(base, BASE);
      const lines = base.split('\n');
      fc.assert(
        fc.property(fc.array(lineEdit, { minLength: lines.length, maxLength: lines.length }), (edits) => {
          const out: string[] = [];
          lines.forEach((line, i) => {
            const e = edits[i];
            out.push(...e.before);
            const hasComment = line.includes('#');
            const comment = e.comment !== undefined && line.trim() !== '' && !hasComment ? ` # ${e.comment}` : '';
            out.push(line === '' ? line : `${line}${e.trailing}${comment}`);
          });
          expect(parseConfig(out.join('\n'), BASE)).toEqual(want);
        }),
        { numRuns: 60 },
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Policies

const NOW = Date.parse('2026-03-25T12:00:00Z');
function slots(): PolicySlot[] {
  const out: PolicySlot[] = [];
  let n = 0;
  const add = (device: string, point: string, kind: PolicySlot['kind']) => out.push({ slot: n++, device, point, account: device, kind });
  add('purifier-1', 'water', 'counter');
  add('purifier-1', 'hardness', 'gauge');
  add('purifier-1', 'cartridge', 'gauge');
  add('purifier-1', 'valve', 'switch');
  add('purifier-1', 'data:hardness', 'counter');
  add('meter-1', 'import_kwh', 'counter');
  return out;
}
const ctx = (): CompileContext => ({ slots: slots(), timezone: 'Europe/Oslo', nowMs: NOW, version: 1, registry: new PolicyRegistry() });

const VALID_FLOWS = [
  { id: 't1', type: 'tab', label: 'Policies', disabled: false },
  {
    id: 'n1',
    type: 'm2m-tariff',
    z: 't1',
    name: 'water',
    devices: 'purifier-*',
    point: 'water',
    payee: 'waterworks',
    price: '0.012',
    tou: [{ days: 'mon-fri', from: '07:00', to: '22:00', price: '0.02' }],
    wires: [],
  },
  {
    id: 'n2',
    type: 'm2m-tariff',
    z: 't1',
    name: 'power',
    devices: 'meter-1',
    point: 'import_kwh',
    payee: 'utility',
    price: '1.5',
    tou: '',
    wires: [],
  },
  {
    id: 'n3',
    type: 'm2m-credit-limit',
    z: 't1',
    name: 'credit',
    account: 'purifier-1',
    limit: '50',
    rearm: '40',
    action: 'cutoff',
    device: 'purifier-1',
    point: 'valve',
    wires: [],
  },
  { id: 'n4', type: 'm2m-alarm', z: 't1', name: 'low', devices: 'purifier-*', point: 'cartridge', below: '10', hysteresis: '2', wires: [] },
  {
    id: 'n5',
    type: 'm2m-offer',
    z: 't1',
    name: 'sell',
    devices: 'purifier-1',
    point: 'hardness',
    price: '0.001',
    buyers: ['lab-1'],
    wires: [],
  },
  { id: 'n6', type: 'm2m-in', z: 't1', name: 'in', topics: ['events'], devices: '*', wires: [] },
  { id: 'n7', type: 'm2m-write', z: 't1', name: 'write', device: 'purifier-1', point: 'valve', wires: [] },
];
const POLICY_KEYS = [
  'devices',
  'point',
  'payee',
  'price',
  'tou',
  'account',
  'limit',
  'rearm',
  'action',
  'device',
  'below',
  'above',
  'hysteresis',
  'buyers',
  'topics',
  'name',
  'd',
  'z',
];

/** Special values for policy properties on top of random JSON. */
const policyValue = fc.oneof(
  anyValue,
  fc.constantFrom(
    '*',
    '**********',
    'purifier-*,meter-1',
    '-1',
    '1e3',
    '0.0000000001',
    '99999999999999999999999999999',
    '25:00',
    '[{"days":"xyz"}]',
    '[{"from":"07:00","to":"07:00","price":"1"}]',
    'lab-1,lab-1',
    'events,foo',
  ),
  fc.array(
    fc.record(
      {
        days: fc.oneof(nastyString, fc.constantFrom('mon-fri', 'sat,sun', 'fri-mon')),
        from: fc.oneof(nastyString, fc.constantFrom('00:00', '23:59', '24:00', '07:00')),
        to: fc.oneof(nastyString, fc.constantFrom('24:00', '22:00', '07:00')),
        price: fc.oneof(nastyString, fc.constant('1')),
      },
      { requiredKeys: [] },
    ),
    { maxLength: 3 },
  ),
);

type PolicyOutcome = { ok: true } | { ok: false; problems: Array<{ nodeId?: string; message: string }> };
function policyOutcome(flows: unknown): PolicyOutcome {
  try {
    compilePolicies(flows, ctx());
    return { ok: true };
  } catch (e) {
    if (!(e instanceof PolicyError)) {
      throw new Error(
        `compilePolicies threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message} for ${JSON.stringify(flows)?.slice(0, 500)}`,
        { cause: e },
      );
    }
    expect(e.code).toBe('GW_ERR_POLICY');
    expect(e.problems.length).toBeGreaterThan(0);
    for (const p of e.problems) {
      expect(p.message.trim()).not.toBe('');
      // A problem that belongs to a node names it; the others are about the file's structure.
      if (p.nodeId !== undefined) expect(p.message).toContain(`(${p.nodeId})`);
      else expect(p.message).toMatch(/^flows(\[\d+\])?:/);
    }
    return { ok: false, problems: e.problems };
  }
}

describe('compilePolicies on mutated flows', () => {
  it('the base flows compile', () => {
    expect(policyOutcome(VALID_FLOWS)).toEqual({ ok: true });
  });

  it('random property values on m2m-* nodes: a PolicyError naming the mutated node, or a result', () => {
    const edit = fc.record({
      node: fc.integer({ min: 1, max: VALID_FLOWS.length - 1 }),
      key: fc.oneof(
        fc.constantFrom(...POLICY_KEYS),
        fc.string({ maxLength: 8 }).filter((k) => k !== 'id' && k !== 'type'),
      ),
      value: policyValue,
      drop: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const flows = structuredClone(VALID_FLOWS) as Array<Record<string, unknown>>;
        for (const e of edits) {
          const n = flows[e.node];
          if (e.drop) delete n[e.key];
          else Object.defineProperty(n, e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
        }
        const r = policyOutcome(flows);
        if (!r.ok) {
          const mutated = new Set(edits.map((e) => String(flows[e.node].id)));
          const named = [...mutated].some((id) => r.problems.some((p) => p.nodeId === id || p.message.includes(`(${id})`)));
          expect({ named, problems: r.problems }).toMatchObject({ named: true });
          for (const p of r.problems) expect(flows.some((n) => n.id === p.nodeId)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('nodes duplicated, removed, replaced by random JSON; ids and types retyped', () => {
    const op = fc.record({
      kind: fc.constantFrom('dup-same-id', 'dup-new-id', 'remove', 'replace', 'id', 'type', 'disable'),
      at: fc.nat(),
      value: policyValue,
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 4 }), (ops) => {
        const flows = structuredClone(VALID_FLOWS) as unknown[];
        for (const o of ops) {
          if (flows.length === 0) break;
          const i = o.at % flows.length;
          const n = flows[i] as Record<string, unknown>;
          switch (o.kind) {
            case 'dup-same-id':
              flows.push(structuredClone(n));
              break;
            case 'dup-new-id':
              flows.push({ ...structuredClone(n), id: `copy${o.at}` });
              break;
            case 'remove':
              flows.splice(i, 1);
              break;
            case 'replace':
              flows[i] = o.value;
              break;
            case 'disable':
              if (typeof n === 'object' && n !== null) n.d = true;
              break;
            default:
              if (typeof n === 'object' && n !== null) n[o.kind] = o.value;
          }
        }
        void policyOutcome(flows);
        // Node-RED's admin API shape {rev, flows} too.
        void policyOutcome({ rev: 'x', flows });
      }),
      { numRuns: 300 },
    );
  });

  it('non-array JSON documents are a PolicyError (or no policies for null)', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }).filter((v) => !Array.isArray(v)),
        (doc) => {
          const r = policyOutcome(doc);
          if (doc !== null && !(typeof doc === 'object' && Array.isArray((doc as { flows?: unknown }).flows))) expect(r.ok).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Serial / wire framers

/** Split bytes into chunks at the given cut points. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    if (c > prev) out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

type ByteEdit = { op: 'flip' | 'delete' | 'insert' | 'truncate' | 'duplicate'; at: number; byte: number };
const byteEdit: fc.Arbitrary<ByteEdit> = fc.record({
  op: fc.constantFrom('flip', 'delete', 'insert', 'truncate', 'duplicate'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
});
function editBytes(b: Buffer, e: ByteEdit): Buffer {
  if (b.length === 0) return e.op === 'insert' ? Buffer.from([e.byte]) : b;
  const i = e.at % b.length;
  switch (e.op) {
    case 'flip': {
      const c = Buffer.from(b);
      c[i] ^= e.byte === 0 ? 1 : e.byte;
      return c;
    }
    case 'delete':
      return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    case 'insert':
      return Buffer.concat([b.subarray(0, i), Buffer.from([e.byte]), b.subarray(i)]);
    case 'truncate':
      return b.subarray(0, i);
    default:
      return Buffer.concat([b.subarray(0, i + 1), b.subarray(i)]);
  }
}

/** A valid reply to an expectation (normal or exception). */
const rtuReply = fc
  .record({
    unit: fc.integer({ min: 0, max: 255 }),
    fc: fc.constantFrom(1, 2, 3, 4, 5, 6, 15, 16),
    count: fc.integer({ min: 1, max: 125 }),
    exception: fc.boolean(),
    seed: fc.uint8Array({ minLength: 250, maxLength: 250 }),
  })
  .map(({ unit, fc: code, count, exception, seed }) => {
    let body: number[];
    if (exception) {
      body = [unit, code | 0x80, (seed[0] % 11) + 1];
    } else if (code <= 2) {
      const n = Math.ceil(count / 8);
      body = [unit, code, n, ...seed.subarray(0, n)];
    } else if (code <= 4) {
      body = [unit, code, 2 * count, ...seed.subarray(0, 2 * count)];
    } else {
      body = [unit, code, ...seed.subarray(0, 4)];
    }
    const frame = withCrc(Uint8Array.from(body));
    const length = code <= 2 ? 5 + Math.ceil(count / 8) : code <= 4 ? 5 + 2 * count : 8;
    const exp: RtuExpectation = { unit, fc: code, length };
    return { exp, frame };
  });

function runFramer(framer: RtuFramer, exp: RtuExpectation | null, chunks: Buffer[], judgeAt: Set<number>): Buffer[] {
  const out: Buffer[] = [];
  framer.expect(exp);
  chunks.forEach((c, i) => {
    framer.write(c);
    for (let f = framer.read() as Buffer | null; f !== null; f = framer.read() as Buffer | null) out.push(f);
    if (judgeAt.has(i)) expect([null, 'crc', 'truncated']).toContain(framer.judge());
  });
  framer.judge();
  for (const f of out) {
    // Only whole, CRC-checked replies of the unit and function asked for come out.
    expect(hasValidCrc(f, 0, f.length)).toBe(true);
    if (exp) {
      expect(f[0]).toBe(exp.unit);
      expect([exp.fc, exp.fc | 0x80]).toContain(f[1]);
      expect(f.length).toBe(f[1] === exp.fc ? exp.length : 5);
    }
  }
  for (const v of Object.values(framer.stats)) expect(Number.isInteger(v) && v >= 0).toBe(true);
  return out;
}

describe('RTU framer on noise and damaged frames', () => {
  it('random bytes in random chunks, with random expectations: never throws', () => {
    fc.assert(
      fc.property(
        fc.option(
          fc.record({
            unit: fc.integer({ min: 0, max: 255 }),
            fc: fc.integer({ min: 0, max: 255 }),
            length: fc.integer({ min: 0, max: 300 }),
          }),
          { nil: null },
        ),
        fc.uint8Array({ maxLength: 700 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.array(fc.nat({ max: 8 }), { maxLength: 3 }),
        (exp, bytes, cuts, judges) => {
          runFramer(new RtuFramer(), exp, chunked(Buffer.from(bytes), cuts), new Set(judges));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('damaged valid replies amid noise: never throws; an undamaged reply comes out whole', () => {
    fc.assert(
      fc.property(
        rtuReply,
        fc.array(byteEdit, { maxLength: 3 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        ({ exp, frame }, edits, pre, post, cuts) => {
          const damaged = edits.reduce(editBytes, frame);
          // Noise that cannot open a reply of this unit, so an undamaged reply is the first candidate.
          const noise = (u: Uint8Array) => Buffer.from(u.map((b) => (b === exp.unit ? b ^ 0x55 : b)));
          const wire = Buffer.concat([noise(pre), damaged, noise(post)]);
          const out = runFramer(new RtuFramer(), exp, chunked(wire, cuts), new Set());
          if (damaged.equals(frame)) expect(out).toEqual([frame]);
          const framer2 = new RtuFramer();
          void runFramer(framer2, exp, chunked(wire, [...Array(wire.length).keys()]), new Set());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('crc16Modbus is the checksum withCrc appends', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }), (b) => {
        const f = withCrc(b);
        expect(f.readUInt16LE(b.length)).toBe(crc16Modbus(b));
        expect(hasValidCrc(f, 0, f.length)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

function runP1(bytes: Buffer, cuts: number[], options = {}): { telegrams: unknown[]; parser: P1TelegramParser } {
  const parser = new P1TelegramParser(options);
  const telegrams: unknown[] = [];
  for (const c of chunked(bytes, cuts)) {
    parser.write(c);
    for (let t = parser.read() as unknown; t !== null; t = parser.read() as unknown) telegrams.push(t);
  }
  parser.reset();
  for (const v of Object.values(parser.stats)) expect(Number.isInteger(v) && v >= 0).toBe(true);
  // A frame that passed its CRC (or needs none) must always read as a telegram.
  expect(parser.stats.malformed).toBe(0);
  return { telegrams, parser };
}

describe('P1 telegram parser on noise and damaged telegrams', () => {
  it('random bytes (with telegram punctuation mixed in): never throws', () => {
    const p1Byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x2f, 0x21, 0x0d, 0x0a, 0x28, 0x29, 0x2a, 0x3a));
    fc.assert(
      fc.property(fc.array(p1Byte, { maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (bytes, cuts, requireCrc) => {
        void runP1(Buffer.from(bytes), cuts, { requireCrc, maxTelegramBytes: 512 });
      }),
      { numRuns: 200 },
    );
  });

  it('random COSEM-ish lines between "/" and "!" with a correct CRC: parsed or skipped, never thrown', () => {
    const line = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc
        .tuple(
          fc.constantFrom(
            '1-0:1.8.1',
            '0-0:1.0.0',
            '0-1:24.2.1',
            '0-1:24.1.0',
            '1-3:0.2.8',
            '0-0:96.14.0',
            '1-0:99.97.0',
            '0-0:96.13.0',
            '1-0:32.7.0',
          ),
          fc.array(
            fc.oneof(
              fc.string({ maxLength: 20 }),
              fc.constantFrom(
                '123456.789*kWh',
                '101209113020W',
                '999999999999999999999999*kWh',
                '-1*kW',
                '1e9*m3',
                '632525252525X',
                '*',
                '',
              ),
            ),
            { maxLength: 4 },
          ),
        )
        .map(([obis, args]) => `${obis}${args.map((a) => `(${a})`).join('')}`),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.array(line, { maxLength: 12 }), (header, lines) => {
        const body = `/${header.replace(/[/!]/g, '')}\r\n\r\n${lines.map((l) => l.replace(/[/!]/g, '')).join('\r\n')}\r\n!`;
        const bytes = Buffer.concat([
          Buffer.from(body, 'latin1'),
          Buffer.from(`${p1Crc(Buffer.from(body, 'latin1').toString('latin1'))}\r\n`),
        ]);
        void runP1(bytes, []);
      }),
      { numRuns: 200 },
    );
  });

  it('damaged real telegrams: never throws; an undamaged one is delivered', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID),
        fc.array(byteEdit, { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (sample, edits, cuts) => {
          const original = Buffer.from(sample, 'latin1');
          const damaged = edits.reduce(editBytes, original);
          const { telegrams } = runP1(damaged, cuts);
          if (damaged.equals(original)) expect(telegrams).toHaveLength(1);
          if (VALID_WITH_CRC.includes(sample)) expect(telegrams.length).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Vouchers

const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
const KEY: PayerKey = {
  account: 'purifier-1',
  publicKey: publicKey.export({ format: 'jwk' }).x as string,
  sign: (d) => crypto.sign(null, typeof d === 'string' ? Buffer.from(d) : d, privateKey).toString('base64url'),
};
const VOUCHER: SignedVoucher = signVoucher(
  {
    payer: 'purifier-1',
    payee: 'waterworks',
    seq: 17,
    amountNano: 12_345_000_000n,
    currency: 'NOK',
    ledgerHead: 'ab'.repeat(32),
    issuedAtMs: Date.parse('2026-11-25T12:00:00.000Z'),
  },
  KEY,
);

type VoucherEdit =
  | { op: 'set'; field: string; value: unknown }
  | { op: 'char'; field: string; at: number; ch: string }
  | { op: 'delete'; field: string }
  | { op: 'seq'; delta: number };
const field = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...VOUCHER_FIELDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });
const voucherEdit: fc.Arbitrary<VoucherEdit> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    field,
    value: fc.oneof(
      anyValue,
      fc.constantFrom(
        '12.345000000',
        '12.345000001',
        'purifier-1>waterworks',
        'purifier-1',
        'waterworks',
        17,
        1,
        'NOK',
        'ab'.repeat(32),
        'AB'.repeat(32),
      ),
    ),
  }),
  fc.record({
    op: fc.constant('char' as const),
    field: fc.constantFrom(...VOUCHER_FIELDS),
    at: fc.nat(),
    ch: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  }),
  fc.record({ op: fc.constant('delete' as const), field }),
  fc.record({ op: fc.constant('seq' as const), delta: fc.integer({ min: -20, max: 20 }) }),
);

function editVoucher(v: Record<string, unknown>, e: VoucherEdit): void {
  switch (e.op) {
    case 'set':
      Object.defineProperty(v, e.field, { value: e.value, enumerable: true, configurable: true, writable: true });
      return;
    case 'delete':
      delete v[e.field];
      return;
    case 'seq':
      v.seq = (v.seq as number) + e.delta;
      return;
    case 'char': {
      const s = typeof v[e.field] === 'string' ? (v[e.field] as string) : String(v[e.field]);
      const i = e.at % (s.length + 1);
      v[e.field] = s.slice(0, i) + e.ch + s.slice(i + 1);
    }
  }
}

/** The same fields with the same values (order aside). */
function untouched(v: Record<string, unknown>): boolean {
  const keys = Object.keys(v);
  return (
    keys.length === VOUCHER_FIELDS.length &&
    VOUCHER_FIELDS.every(
      (f) => Object.prototype.hasOwnProperty.call(v, f) && Object.is(v[f], (VOUCHER as unknown as Record<string, unknown>)[f]),
    )
  );
}

describe('voucher check on mutated vouchers', () => {
  it('the untouched voucher is ok', () => {
    expect(checkVoucher(structuredClone(VOUCHER)).ok).toBe(true);
    expect(checkVoucher(JSON.parse(JSON.stringify(VOUCHER))).ok).toBe(true);
  });

  it('any field changed, removed or added: never throws, not ok (ok only when nothing really changed)', () => {
    fc.assert(
      fc.property(fc.array(voucherEdit, { minLength: 1, maxLength: 3 }), (edits) => {
        const v = structuredClone(VOUCHER) as unknown as Record<string, unknown>;
        for (const e of edits) editVoucher(v, e);
        const r = checkVoucher(v);
        expect(r.ok).toBe(untouched(v));
        if (!r.ok) {
          expect(r.reason.startsWith(`${r.field}: `)).toBe(true);
          // The same verdict after a JSON round trip (what a payee receives).
          expect(checkVoucher(JSON.parse(JSON.stringify(v))).ok).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('any JSON value at all: never throws, never ok', () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        expect(checkVoucher(v).ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
