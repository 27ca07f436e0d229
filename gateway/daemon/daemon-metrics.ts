/**
 * The daemon's Prometheus metrics (GET /metrics, next to the API's own
 * `m2m_api_*`). Kept cheap on the hot path:
 *  - per device: counters bumped once per poll cycle (`onPoll`); late and
 *    skipped polls read from the pollers at scrape time;
 *  - core and ledger: counters bumped once per committed batch (`onBatch`);
 *  - link and P1 counters are read from the links' own stats at scrape time
 *    (the `m2m_link_state` collector runs first and brings every link counter
 *    up to the link's count, so they render as true counters);
 *  - device state, last read, policy version, ledger head: gauges collected
 *    at scrape time.
 * docs/api.md ("Metrics") lists every family.
 */
import type { CommittedBatch } from '../meter/metering-service';
import type { DeviceState } from '../poll/device-poller';
import type { DeviceViews } from './device-views';
import type { DsmrP1Link } from '../links/dsmr-p1';
import type { LinkState, ModbusLink } from '../links/link';
import { linkStats } from '../links/modbus-client-link';
import type { DeviceStateChange } from '../poll/device-poller';
import { LATENCY_BUCKETS, type Counter, type Histogram, type MetricsRegistry } from '../base/metrics';
import { ProcessMetrics } from '../base/process-metrics';

export const DEVICE_STATES: readonly DeviceState[] = ['ok', 'degraded', 'quarantined', 'offline'];
export const LINK_STATES: readonly LinkState[] = ['connecting', 'up', 'down', 'closed'];

export interface DaemonMetricsDeps {
  registry: MetricsRegistry;
  version: string;
  startedAtMs: number;
  /** Configured devices with their link id. */
  devices: ReadonlyArray<{ id: string; link: string }>;
  /** Configured links with their type (modbus-tcp, modbus-rtu, rtu-over-tcp, dsmr-p1). */
  links: ReadonlyArray<{ id: string; type: string }>;
  views: DeviceViews;
  modbusLinks: () => ReadonlyMap<string, ModbusLink>;
  p1Links: () => ReadonlyMap<string, DsmrP1Link>;
  ledgerHeadSeq: () => number;
  /** Late cycles and skipped polls of each polled device so far (the pollers' own counts). */
  pollLateness?: () => Iterable<{ device: string; late: number; skipped: number }>;
  policyVersion: () => number;
  /** True when the flows file as it is was compiled (false: the last load was rejected). */
  policyOk: () => boolean;
}

/** Link counter families: name, help, and how to read them from Modbus stats / P1 stats (undefined: not that kind). */
interface LinkFamily {
  name: string;
  help: string;
  modbus?: (s: NonNullable<ReturnType<typeof linkStats>>) => number;
  p1?: (s: ReturnType<DsmrP1Link['stats']>) => number;
}

const LINK_FAMILIES: readonly LinkFamily[] = [
  { name: 'm2m_link_requests_total', help: 'Modbus requests put on the wire.', modbus: (s) => s.requests },
  { name: 'm2m_link_responses_ok_total', help: 'Modbus requests answered with data or a write confirmation.', modbus: (s) => s.ok },
  { name: 'm2m_link_timeouts_total', help: 'Modbus requests without a valid answer within timeoutMs.', modbus: (s) => s.timeouts },
  { name: 'm2m_link_exceptions_total', help: 'Modbus requests answered with a Modbus exception.', modbus: (s) => s.exceptions },
  {
    name: 'm2m_link_protocol_errors_total',
    help: 'Modbus requests failed with an invalid answer (bad CRC, truncated, wrong shape).',
    modbus: (s) => s.protocolErrors,
  },
  {
    name: 'm2m_link_down_refusals_total',
    help: 'Modbus requests refused or aborted because the link was or went down.',
    modbus: (s) => s.linkDown,
  },
  {
    name: 'm2m_link_stray_frames_total',
    help: 'Valid Modbus frames answering no pending request (late replies; RTU links).',
    modbus: (s) => s.strayFrames,
  },
  // Garbage on the line (docs/architecture.md §9), for every link type.
  {
    name: 'm2m_link_crc_errors_total',
    help: 'Frames (RTU) or telegrams (P1) dropped for a bad CRC.',
    modbus: (s) => s.crcErrors,
    p1: (s) => s.crcErrors,
  },
  {
    name: 'm2m_link_truncated_frames_total',
    help: 'Frames (RTU) or telegrams (P1) that stopped short and were dropped.',
    modbus: (s) => s.truncatedFrames,
    p1: (s) => s.truncated,
  },
  {
    name: 'm2m_link_noise_bytes_total',
    help: 'Bytes on the line outside any frame or telegram.',
    modbus: (s) => s.noiseBytes,
    p1: (s) => s.noiseBytes,
  },
  {
    name: 'm2m_link_connects_total',
    help: 'Successful link opens (the first one included).',
    modbus: (s) => s.connects,
    p1: (s) => s.opens,
  },
  {
    name: 'm2m_link_disconnects_total',
    help: 'Times an open link went away by itself.',
    modbus: (s) => s.disconnects,
    p1: (s) => s.disconnects,
  },
  { name: 'm2m_link_p1_telegrams_total', help: 'P1 telegrams received with a valid CRC and passed on.', p1: (s) => s.telegrams },
  { name: 'm2m_link_p1_oversize_total', help: 'P1 frames dropped for exceeding the size limit.', p1: (s) => s.oversize },
  {
    name: 'm2m_link_p1_malformed_total',
    help: 'P1 frames that passed the CRC but could not be read as a telegram.',
    p1: (s) => s.malformed,
  },
  {
    name: 'm2m_link_p1_unparsed_lines_total',
    help: 'Lines inside passed-on P1 telegrams that were not understood.',
    p1: (s) => s.unparsedLines,
  },
  { name: 'm2m_link_rx_bytes_total', help: 'Bytes read from a P1 port.', p1: (s) => s.bytes },
];

export class DaemonMetrics {
  private readonly polls: Counter;
  private readonly pollFailures: Counter;
  private readonly pointFailures: Counter;
  private readonly stateChanges: Counter;
  private readonly latePolls: Counter;
  private readonly skippedPolls: Counter;
  private readonly readings: Counter;
  private readonly deltas: Counter;
  private readonly accruals: Counter;
  private readonly events: Counter;
  private readonly batches: Counter;
  private readonly commitSeconds: Counter;
  private readonly lastCommit: ReturnType<MetricsRegistry['gauge']>;
  private readonly pruned: Counter;
  private readonly connectFailures: Counter;
  private readonly linkCounters: Array<{ family: LinkFamily; counter: Counter }>;
  /** Link counts already added to the counters, per `${family}\0${link}`. */
  private readonly seen = new Map<string, number>();
  private readonly linkType: Map<string, string>;
  private readonly detach: Array<() => void> = [];
  private readonly pollSeconds: Histogram;
  private readonly commitLatency: Histogram;
  /** The link of each device, for the poll-latency histogram's label. */
  private readonly deviceLink: Map<string, string>;

  constructor(private readonly d: DaemonMetricsDeps) {
    const r = d.registry;
    this.linkType = new Map(d.links.map((l) => [l.id, l.type]));
    this.deviceLink = new Map(d.devices.map((dev) => [dev.id, dev.link]));
    this.pollSeconds = r.histogram({
      name: 'm2m_poll_duration_seconds',
      help: 'Duration of a device poll cycle on its bus (queue wait included), by link.',
      labelNames: ['link'],
      buckets: LATENCY_BUCKETS,
    });
    this.commitLatency = r.histogram({
      name: 'm2m_ledger_commit_seconds',
      help: 'Duration of a metering batch commit to the ledger.',
      buckets: LATENCY_BUCKETS,
    });
    new ProcessMetrics(r, d.version);

    // -- devices
    this.polls = r.counter({
      name: 'm2m_device_polls_total',
      help: 'Poll cycles (or P1 telegrams) that reached the device.',
      labelNames: ['device'],
    });
    this.pollFailures = r.counter({
      name: 'm2m_device_poll_failures_total',
      help: 'Poll cycles in which no point of the device could be read.',
      labelNames: ['device'],
    });
    this.pointFailures = r.counter({
      name: 'm2m_device_point_failures_total',
      help: 'Point reads that failed, summed over poll cycles.',
      labelNames: ['device'],
    });
    this.stateChanges = r.counter({
      name: 'm2m_device_state_changes_total',
      help: 'Device health changes, by the state entered.',
      labelNames: ['device', 'state'],
    });
    this.latePolls = r.counter({
      name: 'm2m_device_polls_late_total',
      help: 'Poll cycles that started late: the previous one took longer than pollMs.',
      labelNames: ['device'],
    });
    this.skippedPolls = r.counter({
      name: 'm2m_device_polls_skipped_total',
      help: 'Polls shed because the device could not be polled at its pollMs (whole periods a late cycle ran past, or a full bus queue).',
      labelNames: ['device'],
    });
    for (const dev of d.devices) {
      this.latePolls.inc({ device: dev.id }, 0);
      this.skippedPolls.inc({ device: dev.id }, 0);
      this.polls.inc({ device: dev.id }, 0);
      this.pollFailures.inc({ device: dev.id }, 0);
      this.pointFailures.inc({ device: dev.id }, 0);
    }
    r.gauge({
      name: 'm2m_device_state',
      help: 'Device health: 1 for the current state (ok, degraded, quarantined, offline), 0 for the others.',
      labelNames: ['device', 'state'],
      collect: (g) => {
        for (const v of d.views.summaries()) for (const s of DEVICE_STATES) g.set({ device: v.id, state: s }, v.state === s ? 1 : 0);
        this.collectLateness();
      },
    });
    r.gauge({
      name: 'm2m_device_last_read_timestamp_seconds',
      help: 'Time of the last successful read of the device, seconds since the Unix epoch (absent before the first).',
      labelNames: ['device'],
      collect: (g) => {
        for (const v of d.views.summaries()) if (v.lastReadMs !== null) g.set({ device: v.id }, v.lastReadMs / 1000);
      },
    });

    // -- links: the state collector also brings the counters up to the links' own stats
    this.connectFailures = r.counter({
      name: 'm2m_link_connect_failures_total',
      help: 'Link opens that failed (refused, unreachable, no port).',
      labelNames: ['link', 'type'],
    });
    r.gauge({
      name: 'm2m_link_state',
      help: 'Link state: 1 for the current state (connecting, up, down, closed), 0 for the others.',
      labelNames: ['link', 'type', 'state'],
      collect: (g) => {
        for (const l of d.links) {
          const state = d.modbusLinks().get(l.id)?.state ?? d.p1Links().get(l.id)?.state ?? 'closed';
          for (const s of LINK_STATES) g.set({ link: l.id, type: l.type, state: s }, state === s ? 1 : 0);
        }
        this.collectLinkCounters();
      },
    });
    this.linkCounters = LINK_FAMILIES.map((family) => ({
      family,
      counter: r.counter({ name: family.name, help: family.help, labelNames: ['link', 'type'] }),
    }));
    for (const l of d.links) {
      this.connectFailures.inc({ link: l.id, type: l.type }, 0);
      for (const { family, counter } of this.linkCounters) {
        if (l.type === 'dsmr-p1' ? family.p1 : family.modbus) counter.inc({ link: l.id, type: l.type }, 0);
      }
    }

    // -- core and ledger, per committed batch
    this.readings = r.counter({ name: 'm2m_core_readings_total', help: 'Readings (records) metered and committed.' });
    this.deltas = r.counter({ name: 'm2m_core_deltas_total', help: 'Non-zero counter deltas committed.' });
    this.accruals = r.counter({
      name: 'm2m_core_accruals_total',
      help: 'Accruals (priced deltas or time-of-use parts of them) committed.',
    });
    this.events = r.counter({
      name: 'm2m_core_events_total',
      help: 'Events committed, by kind (baseline, reset, rollover, alarm, device-state …).',
      labelNames: ['kind'],
    });
    this.batches = r.counter({
      name: 'm2m_ledger_batches_total',
      help: 'Metering commits to the ledger (every ledger.commitMs, sooner for events and vouchers).',
    });
    this.commitSeconds = r.counter({
      name: 'm2m_ledger_commit_seconds_total',
      help: 'Time spent in metering commits, seconds (divide by m2m_ledger_batches_total).',
    });
    this.lastCommit = r.gauge({ name: 'm2m_ledger_last_commit_seconds', help: 'Duration of the last metering batch commit, seconds.' });
    r.gauge({
      name: 'm2m_ledger_last_batch_seq',
      help: 'Sequence number of the ledger head (every commit: metering, policy, vouchers).',
      collect: (g) => g.set({}, d.ledgerHeadSeq()),
    });
    this.pruned = r.counter({
      name: 'm2m_ledger_readings_pruned_total',
      help: 'History samples (downsampled readings, ledger.history) dropped by its size bound since start.',
    });
    for (const c of [this.readings, this.deltas, this.accruals, this.batches, this.commitSeconds, this.pruned]) c.inc({}, 0);
    r.gauge({
      name: 'm2m_policy_version',
      help: 'Version of the active policies (0: none).',
      collect: (g) => g.set({}, d.policyVersion()),
    });
    r.gauge({
      name: 'm2m_policy_load_ok',
      help: '1 when the flows file as it is compiled; 0 when the last load was rejected (previous policies active).',
      collect: (g) => g.set({}, d.policyOk() ? 1 : 0),
    });
  }

  /** After the links exist: follow their state for connect failures. */
  start(): void {
    for (const [id, link] of this.d.modbusLinks()) {
      let prev = link.state;
      const type = this.linkType.get(id) ?? 'modbus';
      const onState = (s: LinkState): void => {
        if (prev === 'connecting' && s === 'down') this.connectFailures.inc({ link: id, type });
        prev = s;
      };
      link.on('state', onState);
      this.detach.push(() => link.removeListener('state', onState));
    }
  }

  stop(): void {
    for (const off of this.detach.splice(0)) off();
  }

  /** One poll cycle that reached the device (or one P1 telegram): failed when no point could be read. */
  onPoll(device: string, read: number, failed: number, cycleMs?: number): void {
    const labels = { device };
    this.polls.inc(labels);
    if (failed > 0) this.pointFailures.inc(labels, failed);
    if (read === 0 && failed > 0) this.pollFailures.inc(labels);
    if (cycleMs !== undefined) this.pollSeconds.observe({ link: this.deviceLink.get(device) ?? 'unknown' }, cycleMs / 1000);
  }

  /** Bring the late/skipped counters up to the pollers' counts (they count; this only renders). */
  private collectLateness(): void {
    for (const p of this.d.pollLateness?.() ?? []) {
      for (const [counter, now, key] of [
        [this.latePolls, p.late, 'late'],
        [this.skippedPolls, p.skipped, 'skipped'],
      ] as const) {
        const k = `${key}\0${p.device}`;
        const add = now - (this.seen.get(k) ?? 0);
        if (add > 0) {
          counter.inc({ device: p.device }, add);
          this.seen.set(k, now);
        }
      }
    }
  }

  onDeviceState(s: DeviceStateChange): void {
    this.stateChanges.inc({ device: s.device, state: s.state });
  }

  onBatch(b: CommittedBatch): void {
    const m = b.metered;
    this.batches.inc();
    if (m.readings > 0) this.readings.inc({}, m.readings);
    if (m.deltas > 0) this.deltas.inc({}, m.deltas);
    if (m.accruals > 0) this.accruals.inc({}, m.accruals);
    for (const e of b.batch.events) this.events.inc({ kind: e.kind });
    if (b.commitMs !== undefined) {
      this.commitSeconds.inc({}, b.commitMs / 1000);
      this.lastCommit.set({}, b.commitMs / 1000);
      this.commitLatency.observe(undefined, b.commitMs / 1000);
    }
  }

  /** Count history samples dropped by the size bound (the metering service reports them). */
  countPruned(samples: number): void {
    if (samples > 0) this.pruned.inc({}, samples);
  }

  private collectLinkCounters(): void {
    for (const [id, link] of this.d.modbusLinks()) {
      const stats = linkStats(link);
      if (stats) this.bump(id, (f) => (f.modbus ? f.modbus(stats) : undefined));
    }
    for (const [id, link] of this.d.p1Links()) {
      const stats = link.stats();
      this.bump(id, (f) => (f.p1 ? f.p1(stats) : undefined));
      const k = `connect-failures\0${id}`;
      const add = stats.openFailures - (this.seen.get(k) ?? 0);
      if (add > 0) this.connectFailures.inc({ link: id, type: this.linkType.get(id) ?? 'dsmr-p1' }, add);
      this.seen.set(k, Math.max(stats.openFailures, this.seen.get(k) ?? 0));
    }
  }

  private bump(link: string, read: (f: LinkFamily) => number | undefined): void {
    const type = this.linkType.get(link) ?? 'unknown';
    for (const { family, counter } of this.linkCounters) {
      const now = read(family);
      if (now === undefined) continue;
      const k = `${family.name}\0${link}`;
      const before = this.seen.get(k) ?? 0;
      if (now > before) {
        counter.inc({ link, type }, now - before);
        this.seen.set(k, now);
      }
    }
  }
}
