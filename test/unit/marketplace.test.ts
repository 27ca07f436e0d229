/**
 * Marketplace pieces without a network: data slots per (device, point, buyer)
 * so that one buyer's delivery never bills another, grants only where a line
 * exists, deliveries coalesced into counter readings (baseline first), and
 * the buyer token resolver picking up buyers.json changes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MetricsRegistry } from '../../gateway/base/metrics';
import type { MeterInput, MeteringService } from '../../gateway/meter/metering-service';
import { ReferenceCore } from '../../gateway/core/reference';
import { SlotMap } from '../../gateway/meter/slot-map';
import { silentLogger } from '../../gateway/base/log';
import { buyerTokenResolver, ensureBuyerToken } from '../../gateway/api/buyer-tokens';
import { Marketplace } from '../../gateway/market/marketplace';
import { compilePolicies, type CompiledPolicy, type PolicySlot } from '../../gateway/policy/compile';
import { PolicyRegistry } from '../../gateway/meter/policy-registry';

const flows = [
  { id: 't', type: 'tab' },
  { id: 'o1', type: 'm2m-offer', z: 't', devices: 'p-*', point: 'hardness', price: '0.01', buyers: ['lab-1', 'lab-2'] },
];
/** An offer of a point no device has: a policy error (docs/policies.md), so nothing is ever delivered or billed for it. */
const offerOfNothing = { id: 'o2', type: 'm2m-offer', z: 't', devices: 'p-1', point: 'nope', price: '1', buyers: ['lab-1'] };
const devices = [
  { id: 'p-1', account: 'owner', points: [{ name: 'hardness' }] },
  { id: 'p-2', account: 'owner-2', points: [{ name: 'other' }] },
];

function setup() {
  const slots = new SlotMap([], () => ({ widthBits: 32, microPerCount: 1n }));
  const core = new ReferenceCore();
  const ingested: MeterInput[][] = [];
  const metering = { ingest: (i: MeterInput[]) => ingested.push(i) } as unknown as MeteringService;
  const policySlots: PolicySlot[] = [];
  let active: CompiledPolicy | null = null;
  const market = new Marketplace({
    devices,
    slots,
    core,
    metering,
    policySlots,
    activePolicy: () => active,
    metrics: new MetricsRegistry(),
    log: silentLogger(),
    now: () => 1_000,
  });
  market.prepare(flows);
  const registry = new PolicyRegistry();
  active = compilePolicies(flows, { slots: policySlots, timezone: 'UTC', nowMs: 0, version: 1, registry });
  core.setPolicy(active.tables);
  return { slots, core, ingested, market, active, registry };
}

describe('marketplace slots and metering', () => {
  it('gives every (device, point, buyer) its own width-0 slot and line on channel buyer > device account', () => {
    const { slots, active, registry, market } = setup();
    expect(slots.slots.map((s) => [s.device, s.point, s.account, s.ledgerPoint, s.config.widthBits])).toEqual([
      ['p-1', 'data:hardness@lab-1', 'lab-1', 'data:hardness', 0],
      ['p-1', 'data:hardness@lab-2', 'lab-2', 'data:hardness', 0],
    ]);
    const lines = active.offers[0].lines;
    expect(lines.map((l) => [l.device, l.buyer, l.slot, registry.channelInfo(l.channel).id])).toEqual([
      ['p-1', 'lab-1', 0, 'lab-1>owner'],
      ['p-1', 'lab-2', 1, 'lab-2>owner'],
    ]);
    expect(active.offers).toHaveLength(1);
    market.prepare([...flows, offerOfNothing]);
    expect(slots.slots).toHaveLength(2); // no data slot for a point the device lacks
    expect(() => compilePolicies([...flows, offerOfNothing], { slots: [], timezone: 'UTC', nowMs: 0, version: 2, registry })).toThrow(
      /m2m-offer \(o2\): devices "p-1" (match no configured device|select no device with point "nope")/,
    );
  });

  it('is idempotent across recompiles (slots are only appended)', () => {
    const { slots, market } = setup();
    market.prepare(flows);
    expect(slots.slots).toHaveLength(2);
  });

  it('grants a buyer only offered points that have a billing line', () => {
    const { market } = setup();
    expect(market.grants('lab-1')).toEqual([{ devices: 'p-1', point: 'hardness' }]);
    expect(market.grants('lab-3')).toEqual([]);
  });

  it('coalesces deliveries into one counter reading per slot, after a 0 baseline the first time', async () => {
    const { market, ingested, core } = setup();
    market.meter({ account: 'lab-1', device: 'p-1', points: ['hardness'], at: '' });
    market.meter({ account: 'lab-1', device: 'p-1', points: ['hardness'], at: '' });
    market.meter({ account: 'lab-2', device: 'p-1', points: ['hardness'], at: '' });
    await new Promise((r) => setImmediate(r));
    expect(ingested).toHaveLength(1);
    expect(ingested[0].map((i) => [i.point, i.counterRaw, i.tsMs])).toEqual([
      ['data:hardness@lab-1', 0n, 1_000],
      ['data:hardness@lab-1', 2_000_000n, 1_001],
      ['data:hardness@lab-2', 0n, 1_000],
      ['data:hardness@lab-2', 1_000_000n, 1_001],
    ]);
    const r = core.process(ingested[0].map((i) => ({ slot: i.point.endsWith('lab-1') ? 0 : 1, raw: i.counterRaw!, tsMs: i.tsMs })));
    expect(r.accruals.map((a) => [a.slot, a.qtyMicro, a.amountNano])).toEqual([
      [0, 2_000_000n, 20_000_000n],
      [1, 1_000_000n, 10_000_000n],
    ]);
    market.meter({ account: 'lab-1', device: 'p-1', points: ['hardness'], at: '' });
    market.stop(); // flushes at once
    expect(ingested[1].map((i) => [i.point, i.counterRaw, i.tsMs])).toEqual([['data:hardness@lab-1', 3_000_000n, 1_002]]);
  });
});

describe('buyer tokens', () => {
  it('resolves tokens added to buyers.json while running, with the grants of that moment', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-buyers-'));
    try {
      let grants = [{ devices: 'p-1', point: 'hardness' }];
      const resolver = buyerTokenResolver(dir, () => grants);
      expect(resolver.resolve('x'.repeat(43))).toBeNull();
      const { token, created } = ensureBuyerToken(dir, 'lab-1');
      expect(created).toBe(true);
      expect(resolver.resolve(token)).toEqual({ kind: 'buyer', account: 'lab-1', points: grants });
      grants = [];
      expect(resolver.resolve(token)).toEqual({ kind: 'buyer', account: 'lab-1', points: [] });
      const other = ensureBuyerToken(dir, 'lab-2').token;
      expect(other).not.toBe(token);
      expect(resolver.resolve(other)).toMatchObject({ account: 'lab-2' });
      expect(resolver.resolve(token)).toMatchObject({ account: 'lab-1' });
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'buyers.json'), 'utf8')).version).toBe(1);
      expect(fs.existsSync(path.join(dir, 'buyers.json.lock'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
