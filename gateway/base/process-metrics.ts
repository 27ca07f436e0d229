/**
 * Process health on /metrics: resident memory, heap, CPU time, start time
 * and event-loop lag (perf_hooks.monitorEventLoopDelay, sampled every 20 ms).
 * The lag gauges cover the time since the previous scrape: the histogram is
 * reset at every scrape, so a stall shows once, on the next scrape.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Counter, MetricsRegistry } from './metrics';

const NS_PER_S = 1e9;

export class ProcessMetrics {
  private histogram: IntervalHistogram | null = null;
  private cpuSeenUs = 0;

  constructor(registry: MetricsRegistry, version: string, startedAtMs: number) {
    registry.gauge({
      name: 'm2m_build_info',
      help: 'Always 1; the gateway version as a label.',
      labelNames: ['version'],
    }).set({ version }, 1);
    registry.gauge({
      name: 'm2m_process_start_time_seconds',
      help: 'Start time of the daemon, seconds since the Unix epoch.',
    }).set({}, Math.floor(startedAtMs / 1000));
    // Registered after the RSS gauge, whose collector updates it: a registry renders in
    // order and runs each gauge's collector just before that gauge, so the counter is
    // current on every scrape, the first included.
    let cpu: Counter | null = null;
    registry.gauge({
      name: 'm2m_process_resident_memory_bytes',
      help: 'Resident set size of the daemon, bytes.',
      collect: (g) => {
        g.set({}, process.memoryUsage.rss());
        // CPU is read at the same time; a counter only goes up by what was spent since the last scrape.
        const u = process.cpuUsage();
        const us = u.user + u.system;
        if (us > this.cpuSeenUs) cpu?.inc({}, (us - this.cpuSeenUs) / 1e6);
        this.cpuSeenUs = Math.max(this.cpuSeenUs, us);
      },
    });
    cpu = registry.counter({
      name: 'm2m_process_cpu_seconds_total',
      help: 'User and system CPU time spent by the daemon, seconds.',
    });
    registry.gauge({
      name: 'm2m_process_heap_used_bytes',
      help: 'V8 heap in use, bytes.',
      collect: (g) => g.set({}, process.memoryUsage().heapUsed),
    });
    const lag = (name: string, help: string, pick: (h: IntervalHistogram) => number) =>
      registry.gauge({
        name,
        help,
        collect: (g) => {
          const h = this.histogram;
          const v = h && h.count > 0 ? pick(h) / NS_PER_S : 0;
          g.set({}, Number.isFinite(v) ? v : 0);
        },
      });
    lag('m2m_process_event_loop_lag_mean_seconds', 'Mean event-loop delay since the previous scrape, seconds.', (h) => h.mean);
    lag('m2m_process_event_loop_lag_p99_seconds', '99th percentile event-loop delay since the previous scrape, seconds.', (h) => h.percentile(99));
    registry.gauge({
      name: 'm2m_process_event_loop_lag_max_seconds',
      help: 'Largest event-loop delay since the previous scrape, seconds.',
      collect: (g) => {
        const h = this.histogram;
        g.set({}, h && h.count > 0 ? h.max / NS_PER_S : 0);
        h?.reset(); // the last lag gauge: start the next scrape's window
      },
    });
  }

  start(): void {
    if (this.histogram) return;
    this.histogram = monitorEventLoopDelay({ resolution: 20 });
    this.histogram.enable();
  }

  stop(): void {
    this.histogram?.disable();
    this.histogram = null;
  }
}
