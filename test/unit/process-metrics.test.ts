import { MetricsRegistry } from '../../gateway/base/metrics';
import { ProcessMetrics } from '../../gateway/base/process-metrics';

it('CPU time is current on every scrape, the first included', () => {
  const reg = new MetricsRegistry();
  new ProcessMetrics(reg, '0.0.0-test', Date.now());
  const sample = (text: string) => Number(/^m2m_process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
  const first = sample(reg.render());
  expect(first).toBeGreaterThan(0);
  const until = process.cpuUsage();
  while (process.cpuUsage(until).user < 20_000); // spend 20 ms of CPU
  expect(sample(reg.render())).toBeGreaterThanOrEqual(first + 0.02);
});
