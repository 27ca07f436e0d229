/**
 * The figures of one fleet-bench case, from what bench/fleet-case.ts
 * collected: /proc samples of the gateway, /metrics scrapes, the simulator's
 * counts and the machine's CPU ticks. Every rate is over the measured window
 * (after start-up and warm-up); per-day figures extrapolate that rate.
 */
import { DAY_S, MiB, mean, perMinuteRates, rnd, slope } from './fleet-math';
import type { CaseContext } from './fleet-case';
import { MONEY, SETTLEMENT, TARIFF_PRICE } from './fleet-layout';
import { bucketDelta, histogramQuantile, type PromText } from './prom-text';
import { EVENT_LOOP_SAMPLE_MS } from '../gateway/base/process-metrics';
import { unitNodeOptions } from './fleet-procs';

export interface Scrape {
  /** Seconds on the sampler's clock (0 = gateway spawned). */
  tS: number;
  ms: number;
  bytes: number;
  prom: PromText;
}

/** The metric a future commit-latency histogram will have (Prometheus convention: _bucket/_sum/_count). */
export const COMMIT_HISTOGRAM = 'm2m_ledger_commit_seconds';
/** Age of the gateway after which its RSS should be flat (the target's "after the first 2 minutes"). */
const RSS_FLAT_AFTER_S = 120;

export type CaseResult = ReturnType<typeof summarise>;

export function summarise(
  ctx: CaseContext,
  stop: { code: number | null; signal: string | null; stopMs: number; killed: boolean },
  clk: number,
) {
  const { spec, window, scrapes } = ctx;
  const samples = ctx.sampler.samples;
  const inWindow = samples.filter((s) => s.tS >= window.t0 - 0.01 && s.tS <= window.t1 + 0.01);
  const p0 = inWindow[0]!;
  const p1 = inWindow[inWindow.length - 1]!;
  const w = p1.tS - p0.tS;
  const m0 = scrapes[0]!.prom;
  const m1 = scrapes[scrapes.length - 1]!.prom;
  const mw = scrapes[scrapes.length - 1]!.tS - scrapes[0]!.tS;
  const d = (name: string, match?: Record<string, string>): number => m1.sum(name, match) - m0.sum(name, match);

  // -- delivery
  const expected = (spec.devices * spec.points * 1000) / spec.pollMs;
  // Readings are counted when committed, and commits come every commitMs / groups (2.5 s here):
  // a window cut through that cadence misses or adds up to a commit's worth at each end (a 32 s
  // window read 93 % delivered while every poll was made). The rate is taken between the
  // window's first and last commits instead: the readings committed in between, over the
  // time between them (each commit takes every reading metered since the one before).
  const [k0, k1] = ctx.commitMarks;
  const byCommits = k0 && k1 && k1.atMs - k0.atMs >= 1000 ? { readings: k1.readings - k0.readings, s: (k1.atMs - k0.atMs) / 1000 } : null;
  const pointsPerSec = byCommits ? byCommits.readings / byCommits.s : d('m2m_core_readings_total') / mw;
  const polls = d('m2m_device_polls_total');
  const simW = ctx.sim1.uptimeS - ctx.sim0.uptimeS || w;
  const simRegs = ctx.sim1.registers - ctx.sim0.registers;
  const simReqs = ctx.sim1.requests - ctx.sim0.requests;
  const simPoints = (simRegs / simW) * (spec.points / ctx.readsPerPoll.registers);
  const perMinuteDelivered: number[] = [];
  for (let k = 1; k < scrapes.length; k++) {
    const a = scrapes[k - 1]!;
    const b = scrapes[k]!;
    perMinuteDelivered.push(rnd((b.prom.sum('m2m_core_readings_total') - a.prom.sum('m2m_core_readings_total')) / (b.tS - a.tS), 0));
  }
  const eventsByKind: Record<string, number> = {};
  for (const s of m1.samples) {
    if (s.name !== 'm2m_core_events_total') continue;
    const kind = s.labels.kind ?? '';
    const n = s.value - m0.sum('m2m_core_events_total', { kind });
    if (n > 0) eventsByKind[kind] = n;
  }

  // -- CPU
  const ticks = (a: number, b: number): number => (b - a) / clk / w;
  const cores = ticks(p0.cpuTicks, p1.cpuTicks);
  const perMinuteCores = perMinuteRates(inWindow, window.t0, window.t1, (s) => s.cpuTicks / clk).map((x) => rnd(x, 3));
  const busy = (t: { busy: number[] }): number => t.busy.reduce((a, b) => a + b, 0);
  const machineCores = (busy(ctx.machine1) - busy(ctx.machine0)) / clk / w;
  const simCores = ticks(ctx.simTicks[0], ctx.simTicks[1]);
  const selfCores = ticks(ctx.self[0], ctx.self[1]);
  const perCpuBusy = ctx.machine1.busy.map((b, i) => rnd((b - (ctx.machine0.busy[i] ?? 0)) / clk / w, 2));

  // -- memory
  const rssMiB = (b: number): number => b / MiB;
  const afterWarm = samples.filter((s) => s.tS >= RSS_FLAT_AFTER_S && s.tS <= window.t1 + 0.01);
  const flatSpan = afterWarm.length ? afterWarm[afterWarm.length - 1]!.tS - afterWarm[0]!.tS : 0;
  const slopeAfter2 = flatSpan >= 60 ? slope(afterWarm.map((s) => [s.tS / 60, rssMiB(s.rssBytes)] as const)) : null;
  const slopeWindow = slope(inWindow.map((s) => [s.tS / 60, rssMiB(s.rssBytes)] as const));
  const perMinuteRss: number[] = [];
  for (let t = window.t0 + 60; t <= window.t1 + 1; t += 60) {
    const near = inWindow.reduce((best, s) => (Math.abs(s.tS - t) < Math.abs(best.tS - t) ? s : best), p0);
    perMinuteRss.push(rnd(rssMiB(near.rssBytes), 1));
  }

  const timeline: number[] = [];
  for (let t = 0; t <= window.t1 + 0.01; t += 10) {
    const near = samples.reduce((best, s) => (Math.abs(s.tS - t) < Math.abs(best.tS - t) ? s : best), samples[0]!);
    timeline.push(rnd(rssMiB(near.rssBytes), 0));
  }

  // -- disk
  const writeBps = (p1.writeBytes - p0.writeBytes) / w;
  const folderBps = slope(inWindow.map((s) => [s.tS, s.folderBytes] as const)) ?? 0;
  const ledgerBps = slope(inWindow.map((s) => [s.tS, s.fileBytes] as const)) ?? 0;
  // The ledger proper: ledger.db alone. Its WAL fills up to the checkpoint size
  // (ledger.walAutocheckpoint pages, truncated back to 64 MiB) and is reused
  // from then on: bounded, so it is not growth per day, but in a short
  // window its first fill looks like growth.
  const ledgerDbBps = slope(inWindow.map((s) => [s.tS, s.firstFileBytes] as const)) ?? 0;
  const [c0, c1] = ctx.ledgerContent;
  const contentBps = c0 !== null && c1 !== null ? (c1 - c0) / w : null;

  // -- ledger commits
  const batches = d('m2m_ledger_batches_total');
  const commitS = d('m2m_ledger_commit_seconds_total');
  const hist1 = m1.buckets(COMMIT_HISTOGRAM);
  const commitP99 = hist1 ? histogramQuantile(0.99, bucketDelta(m0.buckets(COMMIT_HISTOGRAM), hist1)) : null;

  // -- event loop: each scrape's gauges cover the time since the previous scrape; they are the
  // intervals between the gateway's samples, so the delay is what exceeds the sampling interval
  const delayOf = (name: string): number[] =>
    scrapes
      .slice(1)
      .map((s) => s.prom.value(name))
      .filter((x): x is number => x !== null)
      .map((x) => Math.max(0, x - EVENT_LOOP_SAMPLE_MS / 1000));
  const lagP99s = delayOf('nodejs_eventloop_lag_p99_seconds');
  const lagMaxes = delayOf('nodejs_eventloop_lag_max_seconds');

  return {
    id: spec.id,
    title: spec.title,
    setup: {
      devices: spec.devices,
      pointsPerDevice: spec.points,
      points: spec.devices * spec.points,
      pollMs: spec.pollMs,
      layout: spec.layout,
      readsPerPollPerDevice: ctx.readsPerPoll,
      editor: spec.editor,
      settlement: spec.settlement ? SETTLEMENT : null,
      tariff: { perPoint: TARIFF_PRICE, payee: 'grid', approxVoucherEveryS: Math.round(MONEY.voucherEveryS) },
      gatewayCpus: spec.gatewayCpus ?? 'any',
      gatewayNodeOptions: unitNodeOptions(),
      simCpus: spec.simCpus ?? 'any',
      warmupS: spec.warmupS,
      seconds: spec.seconds,
      metricsScrapeEveryS: spec.scrapeEveryS,
      logLevel: spec.logLevel,
    },
    startup: {
      apiUpS: rnd(ctx.startup.apiUpS, 1),
      allDevicesOkS: rnd(ctx.startup.allOkS, 1),
      devicesOkAtStart: ctx.startup.devicesOkAtStart,
    },
    windowS: rnd(w, 1),
    aborted: ctx.aborted,
    delivery: {
      expectedPointsPerSec: rnd(expected, 1),
      pointsPerSec: rnd(pointsPerSec, 1),
      percentOfExpected: rnd((pointsPerSec / expected) * 100, 2),
      perMinutePointsPerSec: perMinuteDelivered,
      measuredBetween: byCommits ? `commits ${rnd(byCommits.s, 1)} s apart` : 'scrapes',
      pollsPerSec: rnd(polls / mw, 1),
      pollsPercentOfExpected: rnd((polls / mw / ((spec.devices * 1000) / spec.pollMs)) * 100, 2),
      sim: {
        requestsPerSec: rnd(simReqs / simW, 1),
        registersPerSec: rnd(simRegs / simW, 1),
        pointsPerSec: rnd(simPoints, 1),
        exceptions: ctx.sim1.exceptions - ctx.sim0.exceptions,
        garbageConnections: ctx.sim1.garbage - ctx.sim0.garbage,
        requestsPerDeviceSinceStart: ctx.sim1.perDevice,
      },
      gatewayOverSim: simPoints > 0 ? rnd(pointsPerSec / simPoints, 4) : null,
      devicesOkAtEnd: m1.sum('m2m_device_state', { state: 'ok' }),
      stateChanges: d('m2m_device_state_changes_total'),
      linkTimeouts: d('m2m_link_timeouts_total'),
      linkExceptions: d('m2m_link_exceptions_total'),
      pointFailures: d('m2m_device_point_failures_total'),
    },
    cpu: {
      meanCores: rnd(cores, 3),
      perMinuteCores,
      fromMetricsCores: rnd(d('m2m_process_cpu_seconds_total') / mw, 3),
      cpuMsPer1000Points: pointsPerSec > 0 ? rnd((cores * 1e6) / pointsPerSec, 1) : null,
      simulatorCores: rnd(simCores, 3),
      benchRunnerCores: rnd(selfCores, 3),
      machineBusyCores: rnd(machineCores, 2),
      machineBusyPerCpu: perCpuBusy,
      machineBusyBeforeCase: ctx.machineBefore,
      otherProcessesCores: rnd(Math.max(0, machineCores - cores - simCores - selfCores), 2),
    },
    rss: {
      windowStartMiB: rnd(rssMiB(p0.rssBytes), 1),
      windowEndMiB: rnd(rssMiB(p1.rssBytes), 1),
      windowMaxMiB: rnd(rssMiB(Math.max(...inWindow.map((s) => s.rssBytes))), 1),
      perMinuteMiB: perMinuteRss,
      every10sFromSpawnMiB: timeline,
      slopeMiBPerMinAfter2Min: rnd(slopeAfter2, 3),
      slopeMiBPerMinWindow: rnd(slopeWindow, 3),
      note:
        slopeAfter2 === null
          ? `gateway ran < ${RSS_FLAT_AFTER_S + 60} s: no slope after minute 2`
          : `least squares over /proc samples from gateway age ${RSS_FLAT_AFTER_S} s to the window end`,
    },
    disk: {
      writeBytesPerSec: rnd(writeBps, 0),
      writeGBPerDay: rnd((writeBps * DAY_S) / 1e9, 2),
    },
    dataFolder: {
      startBytes: p0.folderBytes,
      endBytes: p1.folderBytes,
      growthBytesPerSec: rnd(folderBps, 0),
      growthMBPerDay: rnd((folderBps * DAY_S) / 1e6, 1),
      ledgerFilesEndBytes: ctx.ledgerFiles,
      ledgerGrowthBytesPerSec: rnd(ledgerDbBps, 0),
      // what the ledger holds, WAL included (a reader's page count): growth of its content, whatever the files do
      ledgerGrowthMBPerDay: contentBps === null ? null : rnd((contentBps * DAY_S) / 1e6, 1),
      ledgerDbFileGrowthMBPerDay: rnd((ledgerDbBps * DAY_S) / 1e6, 1),
      ledgerWithWalGrowthMBPerDay: rnd((ledgerBps * DAY_S) / 1e6, 1),
    },
    ledger: {
      batchesPerSec: rnd(batches / mw, 2),
      commitMeanMs: batches > 0 ? rnd((commitS / batches) * 1000, 2) : null,
      commitP99Ms: commitP99 === null ? null : rnd(commitP99 * 1000, 2),
      commitP99Source: hist1
        ? `${COMMIT_HISTOGRAM}_bucket, window delta`
        : `absent: the gateway exposes no ${COMMIT_HISTOGRAM} histogram (only _total and last-commit gauges)`,
      lastCommitMsAtEnd: rnd((m1.value('m2m_ledger_last_commit_seconds') ?? NaN) * 1000, 2),
      eventsByKind,
      channels: ctx.channels?.count ?? null,
      vouchersInWindow: ctx.channels?.vouchersInWindow ?? null,
      vouchersPerSec: ctx.channels ? rnd(ctx.channels.vouchersInWindow / w, 2) : null,
    },
    eventLoop: {
      lagP99MsWorst: lagP99s.length ? rnd(Math.max(...lagP99s) * 1000, 1) : null,
      lagP99MsMean: rnd((mean(lagP99s) ?? NaN) * 1000, 1),
      lagMaxMs: lagMaxes.length ? rnd(Math.max(...lagMaxes) * 1000, 1) : null,
      source:
        "nodejs_eventloop_lag_{p99,max}_seconds at each scrape (each covers the time since the previous scrape), less the gateway's sampling interval (EVENT_LOOP_SAMPLE_MS)",
    },
    metricsScrape: {
      bytes: scrapes[scrapes.length - 1]!.bytes,
      msMax: rnd(Math.max(...scrapes.map((s) => s.ms)), 1),
      count: scrapes.length,
    },
    gatewayStop: stop,
  };
}
