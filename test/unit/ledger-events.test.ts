/** Event ids returned by commitBatch and the `newest` window of events(). */
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { T0, batch, event } from './ledger-fixtures';

describe('ledger events', () => {
  const ledger = SqliteLedger.inMemory();
  afterAll(() => ledger.close());
  const ids: number[] = [];
  beforeAll(() => {
    for (let i = 0; i < 5; i++) {
      const c = ledger.commitBatch(batch(T0 + i, { events: [event('alarm', T0 + i * 10), event('alarm-clear', T0 + i * 10 + 1)] }));
      ids.push(...ledger.eventIdsOf(c.seq));
    }
  });

  it("eventIdsOf answers the ids a batch's events got, in order", () => {
    expect(ids).toHaveLength(10);
    expect(ledger.events({ limit: 100 }).map((e) => e.id)).toEqual(ids);
  });

  it('with sinceMs, `newest` picks the newest events since then, the default the oldest', () => {
    const since = T0 + 20; // events 4..9
    expect(ledger.events({ sinceMs: since, limit: 2 }).map((e) => e.id)).toEqual(ids.slice(4, 6));
    expect(ledger.events({ sinceMs: since, limit: 2, newest: true }).map((e) => e.id)).toEqual(ids.slice(8, 10));
  });
});
