/** The registry's label-less histogram (m2m_ledger_commit_seconds): cumulative buckets, +Inf, sum and count. */
import { MetricsRegistry } from '../../gateway/base/metrics';

describe('Histogram', () => {
  it('renders cumulative buckets, +Inf, _sum and _count in the text format', () => {
    const r = new MetricsRegistry();
    const h = r.histogram({ name: 'm2m_ledger_commit_seconds', help: 'Commit duration.', buckets: [0.01, 0.05, 0.1] });
    for (const v of [0.004, 0.01, 0.02, 0.2]) h.observe(v);
    expect(h.get()).toBe(4);
    expect(r.render()).toBe(
      [
        '# HELP m2m_ledger_commit_seconds Commit duration.',
        '# TYPE m2m_ledger_commit_seconds histogram',
        'm2m_ledger_commit_seconds_bucket{le="0.01"} 2',
        'm2m_ledger_commit_seconds_bucket{le="0.05"} 3',
        'm2m_ledger_commit_seconds_bucket{le="0.1"} 3',
        'm2m_ledger_commit_seconds_bucket{le="+Inf"} 4',
        'm2m_ledger_commit_seconds_sum 0.234',
        'm2m_ledger_commit_seconds_count 4',
        '',
      ].join('\n'),
    );
  });

  it('refuses unsorted buckets, a name taken, a value that is not finite', () => {
    const r = new MetricsRegistry();
    expect(() => r.histogram({ name: 'h', help: '', buckets: [1, 1] })).toThrow(/ascending/);
    r.counter({ name: 'taken', help: '' });
    expect(() => r.histogram({ name: 'taken', help: '', buckets: [1] })).toThrow(/twice/);
    expect(() => r.histogram({ name: 'h2', help: '', buckets: [1] }).observe(Number.NaN)).toThrow(/not finite/);
  });
});
