/**
 * A reading gap longer than the compiled time-of-use window bills exactly as
 * if the segments had covered it (gateway/meter/tou-gaps.ts): the gateway
 * (policy service + metering service + WASM or BigInt core + ledger) against
 * the BigInt reference core given segments compiled for the whole gap, across
 * DST changes in Europe/Oslo — back in time (a counter last read two months
 * before the policy's window) and ahead (a clock that jumped past it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../gateway/base/log';
import { ReferenceCore } from '../../gateway/core/reference';
import type { MeteringCore } from '../../gateway/core/types';
import { loadWasmCore } from '../../gateway/core/wasm-core';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { MeteringService } from '../../gateway/meter/metering-service';
import { PolicyRegistry } from '../../gateway/meter/policy-registry';
import { SlotMap } from '../../gateway/meter/slot-map';
import type { ResolvedPoint } from '../../gateway/devices/point';
import { PolicyService } from '../../gateway/policy/policy-service';
import { compileTou, parseBand } from '../../gateway/policy/tou';

const TZ = 'Europe/Oslo';
const DAY = 86_400_000;
const BANDS = [
  { days: 'mon-fri', from: '07:00', to: '22:00', price: '0.9' },
  { days: 'sat,sun', from: '10:00', to: '14:30', price: '0.35' },
];
const FLAT = '0.123456789';

/** The oracle: the BigInt core with segments compiled over the whole span, billing baseline → reading. */
function oracle(fromMs: number, toMs: number, rawFrom: bigint, rawTo: bigint, segmentsFrom: number, segmentsTo: number): bigint {
  const core = new ReferenceCore();
  core.configureSlots([{ slot: 0, widthBits: 32, microPerCount: 1_000_000n, maxRateMicroPerS: 0n }]);
  const bands = BANDS.map((b, i) => parseBand(b, i).band!);
  const { segments } = compileTou(bands, TZ, segmentsFrom, segmentsTo);
  core.setPolicy({
    version: 1,
    lines: [{ line: 0, slot: 0, channel: 0, priceNano: 123_456_789n, segments }],
    channels: [{ channel: 0, account: 0 }],
    creditLimits: [],
  });
  core.process([{ slot: 0, raw: rawFrom, tsMs: fromMs }]);
  return core.process([{ slot: 0, raw: rawTo, tsMs: toMs }]).accruals.reduce((s, a) => s + a.amountNano, 0n);
}

interface Gateway {
  ledger: SqliteLedger;
  metering: MeteringService;
  dir: string;
}

/** Policy service and metering service as the daemon wires them, the counter's last committed reading at `lastMs`. */
function gateway(core: MeteringCore, nowMs: number, lastMs: number, lastRaw: bigint): Gateway {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-tou-gap-'));
  fs.writeFileSync(
    path.join(dir, 'flows.json'),
    JSON.stringify([
      { id: 't', type: 'tab' },
      {
        id: 'tariff',
        type: 'm2m-tariff',
        z: 't',
        name: 'energy',
        devices: 'meter-1',
        point: 'energy',
        payee: 'grid',
        price: FLAT,
        tou: BANDS,
        wires: [],
      },
    ]),
  );
  const ledger = SqliteLedger.inMemory();
  ledger.commitBatch({
    atMs: lastMs,
    policyVersion: 0,
    events: [],
    state: {
      slots: [{ device: 'meter-1', point: 'energy', hasBaseline: true, lastRaw, lastTsMs: lastMs, heldRaw: null, heldTsMs: 0 }],
      lines: [],
      accounts: [],
    },
  });
  const slots = new SlotMap(
    [{ id: 'meter-1', account: 'meter-1', points: [{ name: 'energy', kind: 'counter' } as ResolvedPoint] }],
    () => ({ widthBits: 32, microPerCount: 1_000_000n }),
  );
  core.configureSlots(slots.configs());
  const registry = new PolicyRegistry();
  const metering = new MeteringService(core, slots, registry, ledger, silentLogger(), { commitMs: 60_000 });
  const policies: PolicyService = new PolicyService({
    flowsFile: path.join(dir, 'flows.json'),
    timezone: TZ,
    slots: [{ slot: 0, device: 'meter-1', point: 'energy', account: 'meter-1', kind: 'counter' }],
    registry,
    core,
    ledger,
    log: silentLogger(),
    onApplied: (p) => {
      metering.setPolicyVersion(p.version);
      metering.setTariffHorizon({ ...p.horizon, widen: (f, t) => policies.widen(f, t) });
    },
  });
  expect(policies.load(nowMs)).toBeNull();
  policies.stop();
  expect(policies.active!.horizon).toEqual({ fromMs: nowMs - 7 * DAY, toMs: nowMs + 35 * DAY });
  metering.restore();
  return { ledger, metering, dir };
}

const cores: Array<[string, () => MeteringCore]> = [
  ['WASM core', () => loadWasmCore()],
  ['BigInt core', () => new ReferenceCore()],
];

describe.each(cores)('time of use across a gap longer than the compiled window (%s)', (_name, makeCore) => {
  const cases: Array<[string, number, number, number]> = [
    // [what, policy compiled at, last committed reading, next reading]
    [
      'back: read two months before the window, across the March DST change',
      Date.parse('2026-04-20T09:13:00Z'),
      Date.parse('2026-02-09T17:45:12Z'),
      Date.parse('2026-04-20T09:14:07Z'),
    ],
    [
      'ahead: the clock jumped past the window, across the October DST change',
      Date.parse('2026-09-01T06:00:00Z'),
      Date.parse('2026-09-01T06:00:00Z'),
      Date.parse('2026-11-18T21:59:30Z'),
    ],
    [
      'both: a year down, read again just after the window was compiled',
      Date.parse('2026-06-10T12:00:00Z'),
      Date.parse('2025-06-09T03:00:00Z'),
      Date.parse('2026-06-10T12:00:01Z'),
    ],
  ];

  it.each(cases)('%s: bills exactly as if the segments covered the gap', (_what, nowMs, lastMs, readMs) => {
    const rawFrom = 1_000n;
    const rawTo = 4_000_000_000n; // about 4 · 10^9 units over the gap
    const g = gateway(makeCore(), nowMs, lastMs, rawFrom);
    try {
      g.metering.ingest([{ device: 'meter-1', point: 'energy', tsMs: readMs, value: String(rawTo), counterRaw: rawTo }]);
      g.metering.stop();
      const [total] = g.ledger.ledgerTotals();
      const exact = oracle(lastMs, readMs, rawFrom, rawTo, lastMs - DAY, readMs + DAY);
      expect(total).toMatchObject({ device: 'meter-1', point: 'energy', payee: 'grid', quantityMicro: (rawTo - rawFrom) * 1_000_000n });
      expect(total!.amountNano).toBe(exact);
      // ...and the compiled window alone would have billed something else (the flat price outside it)
      expect(oracle(lastMs, readMs, rawFrom, rawTo, nowMs - 7 * DAY, nowMs + 35 * DAY)).not.toBe(exact);
    } finally {
      g.ledger.close();
      fs.rmSync(g.dir, { recursive: true, force: true });
    }
  });
});
