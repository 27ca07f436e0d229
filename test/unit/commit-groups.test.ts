/**
 * Commits spread over the commit period (gateway/meter/commit-groups.ts,
 * docs/ledger.md "Cadence"): with device groups the cadence commits one group
 * at a time; every device still commits every commitMs, an account shared by
 * devices of several groups is committed without the money other groups still
 * hold, and a process killed between group commits loses nothing: the restart
 * bills each slot from its own last committed raw value, to the nano.
 */
import { ReferenceCore } from '../../gateway/core/reference';
import { loadWasmCore } from '../../gateway/core/wasm-core';
import type { MeteringCore } from '../../gateway/core/types';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { commitGroupCount, CommitGroups } from '../../gateway/meter/commit-groups';
import type { BatchSettler, CommittedBatch, MeterInput } from '../../gateway/meter/metering-service';
import { SlotMap } from '../../gateway/meter/slot-map';
import { meterRig, type MeterRig } from './meter-fixtures';

const HOUR = 3_600_000;
const T = Date.UTC(2026, 2, 29, 0, 59, 30); // 30 s before an hour ends
const devices = Array.from({ length: 6 }, (_, i) => `m-${i}`);
const spec = {
  devices: Object.fromEntries(devices.map((d) => [d, ['energy', 'water']])),
  // m-0, m-3, m-5 share the account "plant": their money lands on one account from three groups.
  accounts: { 'm-0': 'plant', 'm-3': 'plant', 'm-5': 'plant' },
  tariffs: devices.flatMap((d, i) => [
    { device: d, point: 'energy', payee: 'grid', priceNano: 1_234_567_891n + BigInt(i) },
    { device: d, point: 'water', payee: 'waterworks', priceNano: 987_654_321n },
  ]),
};

function poll(rig: MeterRig, second: number): void {
  const inputs: MeterInput[] = [];
  devices.forEach((d, i) => {
    for (const [point, step] of [
      ['energy', 7 + i],
      ['water', 3],
    ] as const) {
      const raw = BigInt(1000 + step * second + (second % 5 === i % 5 ? 1 : 0));
      inputs.push({ device: d, point, tsMs: T + second * 1000, value: String(raw), counterRaw: raw });
    }
  });
  rig.metering.ingest(inputs);
}

function run(core: () => MeteringCore, l: SqliteLedger, from: number, to: number, commitGroups: number): MeterRig {
  const rig = meterRig(core(), l, spec, { flushMs: 100, commitMs: 3000, commitGroups });
  for (let s = from; s <= to; s++) {
    poll(rig, s);
    jest.advanceTimersByTime(1000);
  }
  return rig;
}

const snapshot = (l: SqliteLedger) => ({
  totals: l.ledgerTotals(),
  channels: l.channels(),
  accounts: l.accounts(),
  state: l.loadState(),
  hours: l.ledgerTotals({ fromMs: T - HOUR, toMs: T }),
});

beforeEach(() => jest.useFakeTimers({ now: T }));
afterEach(() => jest.useRealTimers());

describe('commit groups', () => {
  it('sizes groups by counter slots, never past one commit per 500 ms, and keeps a device in one group', () => {
    expect(commitGroupCount(400, 5000)).toBe(1);
    expect(commitGroupCount(15_000, 5000)).toBe(6);
    expect(commitGroupCount(15_000, 1000)).toBe(2);
    expect(commitGroupCount(1_000_000, 60_000)).toBe(16);
    const slots = new SlotMap(
      devices.map((id) => ({
        id,
        account: id,
        points: [{ name: 'a', kind: 'counter' } as never, { name: 'b', kind: 'counter' } as never],
      })),
      () => ({ widthBits: 32, microPerCount: 1n }),
    );
    const g = new CommitGroups(slots, 3);
    expect([0, 1, 2].map((i) => g.devices(i))).toEqual([
      ['m-0', 'm-1'],
      ['m-2', 'm-3'],
      ['m-4', 'm-5'],
    ]);
    expect(slots.slots.map((s) => g.of(s.slot))).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    const late = slots.addCounterSlot('buyer-x', 'data:energy', 'buyer-x');
    expect(g.of(late.slot)).toBe(0); // joins a smallest group
  });

  it('commits one group per step of the cadence; each device every commitMs', () => {
    const l = SqliteLedger.inMemory();
    const rig = meterRig(loadWasmCore(), l, spec, { flushMs: 100, commitMs: 3000, commitGroups: 3 });
    const commits: CommittedBatch[] = [];
    rig.metering.on('batch', (b: CommittedBatch) => commits.push(b));
    poll(rig, 0);
    jest.advanceTimersByTime(1000); // baselines: events, one commit of everything
    expect(commits).toHaveLength(1);
    for (let s = 1; s <= 9; s++) {
      poll(rig, s);
      jest.advanceTimersByTime(1000);
    }
    const cadence = commits.slice(1).map((c) => [...new Set(c.batch.state.slots.map((x) => x.device))].sort());
    expect(cadence.length).toBeGreaterThanOrEqual(8);
    for (const devs of cadence)
      expect([
        ['m-0', 'm-1'],
        ['m-2', 'm-3'],
        ['m-4', 'm-5'],
      ]).toContainEqual(devs);
    // Three consecutive cadence commits cover every device once.
    expect(new Set(cadence.slice(0, 3).flat()).size).toBe(6);
    rig.metering.stop();
    l.close();
  });

  for (const [name, core] of [
    ['WASM', () => loadWasmCore()],
    ['reference', () => new ReferenceCore()],
  ] as const) {
    it(`${name} core: killed between group commits, across an hour end, the ledger ends equal to one run of one group`, () => {
      const whole = SqliteLedger.inMemory();
      run(core, whole, 0, 70, 1).metering.stop();
      jest.setSystemTime(T);
      const l = SqliteLedger.inMemory();
      // Killed three times (no last commit), each time a different group behind.
      run(core, l, 0, 7, 3);
      jest.clearAllTimers();
      run(core, l, 8, 29, 3);
      jest.clearAllTimers();
      run(core, l, 30, 44, 3);
      jest.clearAllTimers();
      // While running, the ledger's rows agree: accounts hold exactly what their committed lines accrued.
      const rows = l.accounts();
      const plant = rows.find((a) => a.account === 'plant')!;
      const plantLines = l.ledgerTotals().filter((t) => ['m-0', 'm-3', 'm-5'].includes(t.device));
      expect(plant.unsettledNano).toBe(plantLines.reduce((s, t) => s + t.amountNano, 0n));
      run(core, l, 45, 70, 3).metering.stop();
      expect(snapshot(l)).toEqual(snapshot(whole));
      expect(snapshot(l).hours.length).toBeGreaterThan(0); // the hour that ended at 01:00 was closed
      l.close();
      whole.close();
    });
  }

  it("a voucher rides the next group commit with its channel's money; the ledger holds what it promises", () => {
    /** Cumulative vouchers on m-1 > grid every 40 units of money (settling nothing: issued, not received). */
    const settler = (l: SqliteLedger): BatchSettler => ({
      due: (p) => {
        const ch = p.channels.find((c) => c.channel === 'm-1>grid');
        if (!ch) return [];
        const committed = l.channels().find((c) => c.channel === 'm-1>grid');
        const amountNano = (committed?.accruedNano ?? 0n) + ch.accruedNano;
        if (amountNano - (committed?.voucheredNano ?? 0n) < 40_000_000_000n) return [];
        const seq = (l.vouchers('m-1>grid').at(-1)?.seq ?? 0) + 1;
        return [{ account: 'm-1', settleNano: 0n, voucher: { channel: 'm-1>grid', seq, amountNano, json: '{}', issuedAtMs: p.atMs } }];
      },
    });
    const runWith = (l: SqliteLedger, groups: number) => {
      const rig = meterRig(loadWasmCore(), l, spec, { flushMs: 100, commitMs: 3000, commitGroups: groups });
      rig.metering.setSettler(settler(l));
      const voucherCommits: Array<{
        devices: string[];
        group: readonly string[];
        atStop: boolean;
        promised: bigint;
        held: bigint | undefined;
      }> = [];
      let commits = 0;
      let stopping = false;
      rig.metering.on('batch', (b: CommittedBatch) => {
        commits += 1;
        const v = b.batch.vouchers?.[0];
        if (!v) return;
        voucherCommits.push({
          devices: [...new Set(b.batch.state.slots.map((x) => x.device))],
          group: b.batch.closeDevices ?? [],
          atStop: stopping,
          promised: v.amountNano,
          held: l.channels().find((c) => c.channel === 'm-1>grid')?.accruedNano,
        });
      });
      for (let s = 0; s <= 40; s++) {
        poll(rig, s);
        jest.advanceTimersByTime(1000);
      }
      stopping = true;
      rig.metering.stop();
      return { voucherCommits, commits };
    };
    const whole = SqliteLedger.inMemory();
    const one = runWith(whole, 1);
    jest.setSystemTime(T);
    const l = SqliteLedger.inMemory();
    const grouped = runWith(l, 3);
    expect(grouped.voucherCommits.length).toBeGreaterThan(2);
    for (const c of grouped.voucherCommits) {
      expect(c.held).toBe(c.promised);
      if (c.atStop) continue; // the stop commits everything, with what is due
      // a group's cadence commit (it closes its devices' hours), with m-1's money added when m-1 is in another group
      expect(c.group.length).toBeGreaterThan(0);
      expect(c.devices.every((d) => d === 'm-1' || c.group.includes(d))).toBe(true);
      expect(c.devices).toContain('m-1');
    }
    // no commit of its own per voucher: 41 s at one group commit a second, and the stop
    expect(grouped.commits).toBeLessThanOrEqual(43);
    expect(one.voucherCommits.length).toBeGreaterThan(2);
    const amounts = (x: SqliteLedger) => x.vouchers().map((v) => v.amountNano);
    expect(amounts(l).at(-1)).toBe(amounts(whole).at(-1)); // the last voucher covers everything, either way
    expect(snapshot(l)).toEqual(snapshot(whole));
    l.close();
    whole.close();
  });

  it('a counter that wraps commits its event at once with its own slot; killed in between, nothing is lost', () => {
    const wrapSpec = { ...spec, widthBits: 16 as const };
    const wrapPoll = (rig: MeterRig, second: number): void => {
      const inputs: MeterInput[] = devices.flatMap((d, i) =>
        (['energy', 'water'] as const).map((point, j) => {
          const raw = BigInt((1000 + (i === 2 ? 9_000 : 300 + j) * second) % 65_536); // only m-2 wraps, every ~7 s
          return { device: d, point, tsMs: T + second * 1000, value: String(raw), counterRaw: raw };
        }),
      );
      rig.metering.ingest(inputs);
    };
    const runWrap = (l: SqliteLedger, from: number, to: number, groups: number, seen?: CommittedBatch[]) => {
      const rig = meterRig(loadWasmCore(), l, wrapSpec, { flushMs: 100, commitMs: 3000, commitGroups: groups });
      if (seen) rig.metering.on('batch', (b: CommittedBatch) => seen.push(b));
      for (let s = from; s <= to; s++) {
        wrapPoll(rig, s);
        jest.advanceTimersByTime(1000);
      }
      return rig;
    };
    const whole = SqliteLedger.inMemory();
    runWrap(whole, 0, 40, 1).metering.stop();
    jest.setSystemTime(T);
    const l = SqliteLedger.inMemory();
    const seen: CommittedBatch[] = [];
    runWrap(l, 0, 18, 3, seen);
    jest.clearAllTimers();
    runWrap(l, 19, 40, 3, seen).metering.stop();
    const wraps = seen.filter((b) => b.batch.events.some((e) => e.kind === 'rollover'));
    expect(wraps.length).toBeGreaterThan(2);
    for (const b of wraps) expect(new Set(b.batch.state.slots.map((x) => x.device))).toEqual(new Set(['m-2']));
    expect(l.events({ kinds: ['rollover'] }).map(({ batchSeq: _b, id: _i, ...e }) => e)).toEqual(
      whole.events({ kinds: ['rollover'] }).map(({ batchSeq: _b, id: _i, ...e }) => e),
    );
    expect(snapshot(l)).toEqual(snapshot(whole));
    l.close();
    whole.close();
  });

  it('what an urgent commit leaves behind still commits within commitMs when no reading comes after it', () => {
    const l = SqliteLedger.inMemory();
    const rig = meterRig(loadWasmCore(), l, { ...spec, widthBits: 16 as const }, { flushMs: 100, commitMs: 3000, commitGroups: 3 });
    const at = (second: number, m2: number): void => {
      rig.metering.ingest(
        devices.flatMap((d) =>
          (['energy', 'water'] as const).map((point) => {
            const raw = BigInt(d === 'm-2' ? m2 : 100 + second);
            return { device: d, point, tsMs: T + second * 1000, value: String(raw), counterRaw: raw };
          }),
        ),
      );
    };
    at(0, 65_000);
    jest.advanceTimersByTime(1000); // baselines: everything committed
    at(1, 10); // m-2 wraps: an urgent commit of m-2 alone; the others' second reading stays pending
    jest.advanceTimersByTime(200);
    const lastRaw = (device: string) => l.loadState().slots.find((x) => x.device === device && x.point === 'energy')!.lastRaw;
    expect(lastRaw('m-2')).toBe(10n);
    jest.advanceTimersByTime(3000); // no reading: the cadence still runs through every group
    for (const d of devices.filter((x) => x !== 'm-2')) expect(lastRaw(d)).toBe(101n);
    rig.metering.stop();
    l.close();
  });
});
