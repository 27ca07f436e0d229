import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { AlarmWatch } from '../../gateway/policy/alarm-watch';
import type { CompiledAlarm } from '../../gateway/policy/compile';

const cartridge: CompiledAlarm = {
  nodeId: 'a1',
  name: 'cartridge low',
  devices: 'purifier-*',
  point: 'cartridge',
  below: '10',
  hysteresis: '2',
  matched: ['purifier-1', 'purifier-2'],
};

describe('AlarmWatch', () => {
  it('raises once below the threshold and clears only past the hysteresis band', () => {
    const w = new AlarmWatch();
    w.setAlarms([cartridge]);
    const kinds = ['11', '10', '9', '8', '10', '11.999999', '12', '13', '9.5'].map((v, i) =>
      w.observe('purifier-1', 'cartridge', v, i).map((e) => e.kind),
    );
    expect(kinds).toEqual([[], [], ['alarm'], [], [], [], ['alarm-clear'], [], ['alarm']]);
  });

  it('keeps devices apart and ignores unmatched devices and points', () => {
    const w = new AlarmWatch();
    w.setAlarms([cartridge]);
    expect(w.observe('purifier-1', 'cartridge', '5', 1)).toHaveLength(1);
    expect(w.observe('purifier-2', 'cartridge', '50', 1)).toHaveLength(0);
    expect(w.observe('purifier-2', 'cartridge', '5', 2)).toHaveLength(1);
    expect(w.observe('pump-1', 'cartridge', '5', 2)).toHaveLength(0);
    expect(w.observe('purifier-1', 'hardness', '5', 2)).toHaveLength(0);
  });

  it('handles an upper threshold and records the value as an exact decimal', () => {
    const w = new AlarmWatch();
    w.setAlarms([{ ...cartridge, below: undefined, above: '20.5', hysteresis: '0.5', point: 'hardness' }]);
    const [e] = w.observe('purifier-1', 'hardness', '20.500001', 7);
    expect(e).toMatchObject({
      kind: 'alarm',
      device: 'purifier-1',
      point: 'hardness',
      tsMs: 7,
      detail: { value: '20.500001', above: '20.5' },
    });
    expect(w.observe('purifier-1', 'hardness', '20.1', 8)).toHaveLength(0);
    expect(w.observe('purifier-1', 'hardness', '20', 9)[0].kind).toBe('alarm-clear');
  });

  it('after a restart, an alarm raised before it is not raised again; a cleared one is — however many events came before', () => {
    const before = new AlarmWatch();
    before.setAlarms([cartridge]);
    const ledger = SqliteLedger.inMemory();
    // 20 000 raise/clear events of purifier-1 first: the ledger keeps the state, not the last N events
    for (let round = 0; round < 10; round++) {
      const flapping = [];
      for (let i = 0; i < 1000; i++) {
        flapping.push(
          ...before.observe('purifier-1', 'cartridge', '5', 10 * i),
          ...before.observe('purifier-1', 'cartridge', '50', 10 * i + 1),
        );
      }
      ledger.commitBatch({ atMs: round, policyVersion: 1, events: flapping, state: { slots: [], lines: [], accounts: [] } });
    }
    const history = [
      ...before.observe('purifier-1', 'cartridge', '5', 1),
      ...before.observe('purifier-2', 'cartridge', '5', 1),
      ...before.observe('purifier-2', 'cartridge', '50', 2),
    ];
    ledger.commitBatch({ atMs: 11, policyVersion: 1, events: history, state: { slots: [], lines: [], accounts: [] } });
    expect(ledger.events({ kinds: ['alarm', 'alarm-clear'], limit: 100_000 })).toHaveLength(20_003);
    const after = new AlarmWatch();
    after.setAlarms([cartridge]);
    after.restore(ledger.activeAlarms());
    ledger.close();
    expect(after.observe('purifier-1', 'cartridge', '5', 3)).toEqual([]);
    expect(after.observe('purifier-2', 'cartridge', '5', 3).map((e) => e.kind)).toEqual(['alarm']);
    expect(after.observe('purifier-1', 'cartridge', '50', 4).map((e) => e.kind)).toEqual(['alarm-clear']);
  });
});
