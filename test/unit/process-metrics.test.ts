import { MetricsRegistry } from '../../gateway/base/metrics';
import { ProcessMetrics } from '../../gateway/base/process-metrics';

it('CPU time is current on every scrape, the first included', async () => {
  const reg = new MetricsRegistry();
  new ProcessMetrics(reg, '0.0.0-test');
  const sample = (text: string) => Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
  const first = sample(await reg.exposition());
  expect(first).toBeGreaterThan(0);
  const until = process.cpuUsage();
  while (process.cpuUsage(until).user < 20_000); // spend 20 ms of CPU
  expect(sample(await reg.exposition())).toBeGreaterThanOrEqual(first + 0.02);
});

it('standard process and Node.js families, and the build info, in one exposition', async () => {
  const reg = new MetricsRegistry();
  new ProcessMetrics(reg, '1.2.3');
  const text = await reg.exposition();
  for (const family of [
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
  ]) {
    expect(text).toContain(`# TYPE ${family} gauge\n`);
  }
  expect(text).toContain('m2m_build_info{version="1.2.3"} 1\n');
});
