import path from 'node:path';
import { parseConfig } from '../../gateway/config/load';
import { P1DeviceMapper } from '../../gateway/poll/p1-device';
import { parseTelegram } from '../../gateway/links/p1-telegram';
import { DSMR5 } from '../sim/p1-samples';

const yaml = `
version: 1
gateway: { id: t, dataDir: ./d, timezone: Europe/Amsterdam }
links:
  - { id: p1, type: dsmr-p1, path: /dev/null }
devices:
  - { id: home, link: p1, profile: dsmr-5 }
`;

describe('P1DeviceMapper', () => {
  const cfg = parseConfig(yaml, path.resolve('/tmp'));
  const mapper = new P1DeviceMapper(cfg.devices[0].points);

  it('maps a DSMR 5 telegram onto the dsmr-5 profile points by OBIS code', () => {
    const t = parseTelegram(DSMR5);
    const vals = mapper.values(t, 0);
    const byName = Object.fromEntries(vals.map((v) => [v.point.name, v]));
    expect(byName.import_t1.value).toBe('4.426');
    expect(byName.import_t1.counterRaw).toBe(4_426_000n);
    expect(byName.import_t2.counterRaw).toBe(2_399_000n);
    expect(byName.export_t1.counterRaw).toBe(2_444_000n);
    expect(byName.power_import.value).toBe('0.244');
    expect(byName.power_import.counterRaw).toBeUndefined();
    expect(byName.gas.counterRaw).toBe(107_000n);
    // 2017-01-02 19:20:02 winter time (UTC+1) for the telegram, 16:10:05 for the gas reading.
    expect(byName.import_t1.tsMs).toBe(Date.UTC(2017, 0, 2, 18, 20, 2));
    expect(byName.gas.tsMs).toBe(Date.UTC(2017, 0, 2, 15, 10, 5));
  });

  it('ignores values no point asks for', () => {
    const only = new P1DeviceMapper(cfg.devices[0].points.filter((p) => p.name === 'gas'));
    expect(only.values(parseTelegram(DSMR5), 0).map((v) => v.point.name)).toEqual(['gas']);
  });
});
