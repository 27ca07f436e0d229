/**
 * The metering service's commit cadence (docs/ledger.md, "Cadence"): the core
 * meters every flush, the ledger commits every commitMs — at once for events,
 * vouchers and in-process delivery counters — and a crash between commits
 * loses no consumption: a restart bills it from the last committed raw value.
 */
import { ReferenceCore } from '../../gateway/core/reference';
import { HistorySampler } from '../../gateway/ledger/history';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import type { CommittedBatch, MeterInput, PendingSettlement } from '../../gateway/meter/metering-service';
import { meterRig } from './meter-fixtures';

const T = Date.UTC(2026, 0, 5, 9, 0, 0);
const PRICE = 1_234_567_891n; // nano per unit
const spec = {
  devices: { 'meter-1': ['energy'], 'meter-2': ['energy'] },
  tariffs: [
    { device: 'meter-1', point: 'energy', payee: 'grid', priceNano: PRICE },
    { device: 'meter-2', point: 'energy', payee: 'grid', priceNano: PRICE },
  ],
};
const reading = (device: string, raw: bigint, tsMs: number): MeterInput => ({
  device,
  point: 'energy',
  tsMs,
  value: String(raw),
  counterRaw: raw,
});

let ledger: SqliteLedger;
beforeEach(() => {
  jest.useFakeTimers({ now: T });
  ledger = SqliteLedger.inMemory();
});
afterEach(() => {
  ledger.close();
  jest.useRealTimers();
});

/** A poll a second: both meters advance 7 units. */
function poll(rig: ReturnType<typeof meterRig>, second: number): void {
  const raw = 1000n + 7n * BigInt(second);
  rig.metering.ingest([reading('meter-1', raw, T + second * 1000), reading('meter-2', raw * 2n, T + second * 1000)]);
}

describe('commit cadence', () => {
  it('meters every flush and commits every commitMs; a baseline commits at once', () => {
    const rig = meterRig(new ReferenceCore(), ledger, spec, { flushMs: 100, commitMs: 5000 });
    const commits: CommittedBatch[] = [];
    rig.metering.on('batch', (b: CommittedBatch) => commits.push(b));
    poll(rig, 0);
    jest.advanceTimersByTime(100);
    expect(commits.map((c) => c.batch.events.map((e) => e.kind))).toEqual([['baseline', 'baseline']]); // events do not wait
    for (let s = 1; s <= 4; s++) {
      jest.advanceTimersByTime(900);
      poll(rig, s);
      jest.advanceTimersByTime(100);
    }
    expect(commits).toHaveLength(1); // 4.1 s after the first commit: metered, not committed
    expect(ledger.ledgerTotals()).toEqual([]);
    jest.advanceTimersByTime(900);
    expect(commits).toHaveLength(1);
    jest.advanceTimersByTime(100); // 5 s after the first commit
    expect(commits).toHaveLength(2);
    expect(commits[1]!.metered).toEqual({ readings: 8, deltas: 8, accruals: 8 });
    expect(commits[1]!.batch.usage).toHaveLength(2); // one entry per line and hour, not per reading
    expect(ledger.ledgerTotals().map((t) => [t.device, t.quantityMicro])).toEqual([
      ['meter-1', 28_000_000n],
      ['meter-2', 56_000_000n],
    ]);
    rig.metering.stop();
  });

  it('commits gateway events at the next flush, not at the cadence', () => {
    const rig = meterRig(new ReferenceCore(), ledger, spec, { flushMs: 100, commitMs: 60_000 });
    poll(rig, 0);
    jest.advanceTimersByTime(100);
    const head = ledger.head().seq;
    poll(rig, 1);
    jest.advanceTimersByTime(100);
    expect(ledger.head().seq).toBe(head);
    rig.metering.addEvents([{ kind: 'device-state', device: 'meter-1', tsMs: T + 1100, detail: { state: 'degraded' } }]);
    jest.advanceTimersByTime(100);
    expect(ledger.head().seq).toBe(head + 1);
    expect(ledger.events({ kinds: ['device-state'] })).toHaveLength(1);
    expect(ledger.ledgerTotals()).toHaveLength(2); // the money metered so far went with it
    rig.metering.stop();
  });

  it('asks the settler with the money not committed yet, and commits its vouchers at once', () => {
    const rig = meterRig(new ReferenceCore(), ledger, spec, { flushMs: 100, commitMs: 60_000 });
    const asked: PendingSettlement[] = [];
    rig.metering.setSettler({
      due: (p) => {
        asked.push(p);
        const ch = p.channels.find((c) => c.channel === 'meter-1>grid');
        if (!ch || ch.accruedNano < 20_000_000_000n) return [];
        return [
          {
            account: 'meter-1',
            settleNano: ch.accruedNano,
            voucher: { channel: 'meter-1>grid', seq: 1, amountNano: ch.accruedNano, json: '{}', issuedAtMs: p.atMs },
          },
        ];
      },
    });
    for (let s = 0; s <= 3; s++) {
      poll(rig, s);
      jest.advanceTimersByTime(1000);
    }
    // 7 units a second at 1.234567891: 8.64 per second on meter-1; the voucher is due at the third second
    expect(asked.map((p) => p.channels.find((c) => c.channel === 'meter-1>grid')?.accruedNano)).toEqual([
      8_641_975_237n,
      17_283_950_474n,
      25_925_925_711n,
    ]);
    const v = ledger.vouchers();
    expect(v.map((x) => [x.seq, x.amountNano])).toEqual([[1, 25_925_925_711n]]);
    expect(ledger.channels().find((c) => c.channel === 'meter-1>grid')).toMatchObject({
      accruedNano: 25_925_925_711n,
      voucheredNano: 25_925_925_711n,
    });
    expect(ledger.accounts().find((a) => a.account === 'meter-1')).toEqual({
      account: 'meter-1',
      unsettledNano: 0n,
      voucheredNano: 25_925_925_711n,
    });
    rig.metering.stop();
  });

  it('loses no consumption when it dies between commits: the restart bills from the last committed raw value', () => {
    const runTo = (l: SqliteLedger, from: number, to: number, commitMs: number) => {
      const rig = meterRig(new ReferenceCore(), l, spec, { flushMs: 100, commitMs });
      for (let s = from; s <= to; s++) {
        poll(rig, s);
        jest.advanceTimersByTime(1000);
      }
      return rig;
    };
    // One run, never interrupted.
    const whole = SqliteLedger.inMemory();
    runTo(whole, 0, 20, 5000).metering.stop();
    // The same readings, the process gone twice without a last commit (kill -9): 3 and 4 s of metering lost each time.
    runTo(ledger, 0, 8, 5000); // committed at 0.1 s (baselines) and 5.1 s (readings to 4 s); 5..8 s only in memory
    jest.clearAllTimers(); // the process is gone: its pending commit never runs
    const committed = ledger.loadState().slots.find((s) => s.device === 'meter-1')!;
    expect(committed.lastRaw).toBe(1000n + 7n * 4n);
    runTo(ledger, 9, 14, 5000); // the first reading bills 9 - 4 = 5 s at once
    jest.clearAllTimers();
    expect(ledger.loadState().slots.find((s) => s.device === 'meter-1')!.lastRaw).toBeLessThan(1000n + 7n * 14n);
    runTo(ledger, 15, 20, 5000).metering.stop();
    expect(ledger.ledgerTotals()).toEqual(whole.ledgerTotals());
    expect(ledger.channels()).toEqual(whole.channels());
    expect(ledger.loadState()).toEqual(whole.loadState());
    whole.close();
  });

  it('commits what the old policy priced before a new policy version takes over', () => {
    const rig = meterRig(new ReferenceCore(), ledger, spec, { flushMs: 100, commitMs: 60_000 });
    poll(rig, 0);
    jest.advanceTimersByTime(1000);
    poll(rig, 1);
    jest.advanceTimersByTime(1000);
    const head = ledger.head().seq;
    rig.metering.setPolicyVersion(1); // the same version (a recompile): nothing to do
    expect(ledger.head().seq).toBe(head);
    rig.metering.setPolicyVersion(2);
    expect(ledger.head().seq).toBe(head + 1);
    expect(JSON.parse(ledger.body(head + 1)!)).toMatchObject({ policyVersion: 1, metered: { accruals: 2 } });
    poll(rig, 2);
    jest.advanceTimersByTime(1000);
    rig.metering.stop();
    expect(JSON.parse(ledger.body(ledger.head().seq)!)).toMatchObject({ policyVersion: 2, metered: { accruals: 2 } });
  });

  it('commits a data delivery counter at once: it lives in this process, not in a meter', () => {
    const rig = meterRig(new ReferenceCore(), ledger, spec, { flushMs: 100, commitMs: 60_000 });
    const data = rig.slots.addCounterSlot('meter-1', 'data:energy@lab', 'lab', 'data:energy');
    rig.core.configureSlots(rig.slots.configs());
    const channel = rig.registry.channel('lab', 'meter-1');
    const lines = [0, 1].map((line) => ({
      line,
      slot: line,
      channel: rig.registry.lineInfo(line).channel,
      priceNano: PRICE,
      segments: [],
    }));
    lines.push({ line: rig.registry.line(data.slot, channel), slot: data.slot, channel, priceNano: 1_000_000n, segments: [] });
    rig.core.setPolicy({
      version: 1,
      lines,
      channels: Array.from({ length: rig.registry.channelCount }, (_, i) => ({ channel: i, account: rig.registry.channelAccount(i) })),
      creditLimits: [],
    });
    const deliver = (n: bigint, t: number) =>
      rig.metering.ingest([{ device: 'meter-1', point: 'data:energy@lab', tsMs: t, value: String(n), counterRaw: n * 1_000_000n }]);
    deliver(0n, T);
    jest.advanceTimersByTime(100); // the baseline: an event
    const head = ledger.head().seq;
    deliver(3n, T + 200);
    jest.advanceTimersByTime(100);
    expect(ledger.head().seq).toBe(head + 1);
    expect(ledger.ledgerTotals({ point: 'data:energy' })).toEqual([
      { device: 'meter-1', point: 'data:energy', account: 'lab', payee: 'meter-1', quantityMicro: 3_000_000n, amountNano: 3_000_000n },
    ]);
    rig.metering.stop();
  });

  it('keeps reading history when turned on: one downsampled sample per point and interval', () => {
    const rig = meterRig(new ReferenceCore(), ledger, spec, {
      flushMs: 100,
      commitMs: 5000,
      history: { sampler: new HistorySampler(60_000), maxBytes: 1_000_000 },
    });
    for (let s = 0; s < 70; s++) {
      poll(rig, s);
      rig.metering.ingest([{ device: 'meter-1', point: 'hardness', tsMs: T + s * 1000, value: String(10 + (s % 5)) }]);
      jest.advanceTimersByTime(1000);
    }
    const minute = ledger.history({ toMs: T + 60_000 });
    expect(minute.find((x) => x.point === 'hardness')).toEqual({
      device: 'meter-1',
      point: 'hardness',
      atMs: T,
      count: 60,
      last: '14',
      min: '10',
      max: '14',
      mean: '12',
    });
    expect(minute.find((x) => x.device === 'meter-2')).toMatchObject({
      count: 60,
      min: '2000',
      max: String(2000 + 14 * 59),
      last: String(2000 + 14 * 59),
    });
    rig.metering.stop();
    expect(ledger.history({ fromMs: T + 60_000, point: 'hardness' })).toMatchObject([{ count: 10 }]); // the open minute, written at stop
  });
});
