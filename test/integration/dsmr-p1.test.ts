/**
 * DsmrP1Link against a real pty pair (socat): the test writes telegrams and
 * garbage into end A, the link reads end B as a serial port. Killing socat
 * makes B disappear like an unplugged USB adapter.
 */
import { DsmrP1Link, DSMR_22_SERIAL } from '../../gateway/links/dsmr-p1';
import type { LinkState } from '../../gateway/links/link';
import type { P1Telegram } from '../../gateway/links/p1-telegram';
import { P1PortError } from '../../gateway/links/p1-errors';
import { startPtyPair, P1Writer, buildTelegram, type PtyPair } from '../sim/p1-writer';
import { DSMR22, DSMR5, DSMR5_SPEC_BODY, DSMR5_SPEC_PRINTED_CRC, DSMR42_E350_SUMMER } from '../sim/p1-samples';

const FAST = { initialMs: 20, maxMs: 200 };

/** Resolves with the next `n` telegrams the link emits. */
function nextTelegrams(link: DsmrP1Link, n: number): Promise<P1Telegram[]> {
  return new Promise((resolve) => {
    const got: P1Telegram[] = [];
    const on = (t: P1Telegram): void => {
      got.push(t);
      if (got.length === n) {
        link.off('telegram', on);
        resolve(got);
      }
    };
    link.on('telegram', on);
  });
}

/** Resolves when the link next enters `state`. */
function nextState(link: DsmrP1Link, state: LinkState): Promise<void> {
  return new Promise((resolve) => {
    const on = (s: LinkState): void => {
      if (s === state) {
        link.off('state', on);
        resolve();
      }
    };
    link.on('state', on);
  });
}

describe('DsmrP1Link over a socat pty pair', () => {
  let pair: PtyPair;
  const links: DsmrP1Link[] = [];
  const writers: P1Writer[] = [];

  const newLink = (opts: Partial<ConstructorParameters<typeof DsmrP1Link>[0]> = {}): DsmrP1Link => {
    const link = new DsmrP1Link({ id: 'p1', path: pair.b, reconnect: FAST, ...opts });
    links.push(link);
    return link;
  };
  const newWriter = async (): Promise<P1Writer> => {
    const w = await P1Writer.open(pair.a);
    writers.push(w);
    return w;
  };

  beforeAll(async () => {
    pair = await startPtyPair();
  });

  afterEach(async () => {
    await Promise.all(links.splice(0).map((l) => l.close()));
    await Promise.all(writers.splice(0).map((w) => w.close()));
  });

  afterAll(async () => {
    await pair?.dispose();
  });

  it('reads telegrams between garbage, drops bad ones, and comes back after the port vanishes', async () => {
    const link = newLink();
    const states: LinkState[] = [];
    link.on('state', (s) => states.push(s));
    await link.open();
    expect(link.state).toBe('up');
    expect(link.busKey).toBe(`serial:${pair.b}`);

    const writer = await newWriter();
    const garbage = 'line noise \x00\x7f\xfe'; // 14 bytes, no '/'
    const got = nextTelegrams(link, 2);
    await writer.write(garbage);
    await writer.write(DSMR5.slice(0, 300)); // truncated by the next '/'
    await writer.write(`${DSMR5_SPEC_BODY}${DSMR5_SPEC_PRINTED_CRC}\r\n`); // the standard's example: CRC does not match
    await writer.write(DSMR5);
    await writer.write(DSMR42_E350_SUMMER);
    const [t5, t42] = await got;

    expect(t5.values.import_t1).toMatchObject({ value: '4.426', unit: 'kWh', micro: 4426000n });
    expect(t5.values.import_t2?.value).toBe('2.399');
    expect(t5.values.export_t1?.value).toBe('2.444');
    expect(t5.values.power_import).toMatchObject({ value: '0.244', unit: 'kW' });
    expect(t5.values.gas).toMatchObject({ value: '0.107', unit: 'm3', micro: 107000n, at: Date.parse('2017-01-02T16:10:05+01:00') });
    expect(t5.timestamp).toBe(Date.parse('2017-01-02T19:20:02+01:00'));
    expect(t42.values.gas).toMatchObject({ value: '1091.352', at: Date.parse('2019-09-05T21:00:00+02:00') });
    expect(t42.timestamp).toBe(Date.parse('2019-09-05T21:40:03+02:00'));

    expect(link.stats()).toMatchObject({
      state: 'up',
      telegrams: 2,
      crcErrors: 1,
      truncated: 1,
      noiseBytes: garbage.length,
      oversize: 0,
      opens: 1,
      disconnects: 0,
    });
    expect(link.stats().bytes).toBeGreaterThan(DSMR5.length + DSMR42_E350_SUMMER.length);

    // Unplug: socat dies, B vanishes, the link goes down and keeps retrying.
    const down = nextState(link, 'down');
    await writer.close();
    await pair.stop();
    await down;

    // Plug back in under the same path: the link reopens by itself.
    const up = nextState(link, 'up');
    await pair.start();
    await up;
    const writer2 = await newWriter();
    const again = nextTelegrams(link, 1);
    const fresh = buildTelegram([
      '/ISk5\\2MT382-1000',
      '',
      '1-3:0.2.8(50)',
      '0-0:1.0.0(240615123000S)',
      '1-0:1.8.1(000123.456*kWh)',
      '1-0:1.8.2(000000.001*kWh)',
      '1-0:1.7.0(01.500*kW)',
      '0-1:24.1.0(003)',
      '0-1:24.2.1(240615120000S)(00012.345*m3)',
    ]);
    await writer2.write(fresh);
    const [t] = await again;
    expect(t.values.import_t1).toMatchObject({ value: '123.456', micro: 123456000n });
    expect(t.values.import_t2).toMatchObject({ value: '0.001', micro: 1000n });
    expect(t.values.gas).toMatchObject({ value: '12.345', micro: 12345000n, at: Date.parse('2024-06-15T12:00:00+02:00') });

    const s = link.stats();
    expect(s).toMatchObject({ telegrams: 3, opens: 2, disconnects: 1 });
    expect(s.lastTelegramAt).not.toBeNull();
    expect(states.slice(0, 2)).toEqual(['connecting', 'up']);
    expect(states).toContain('down');
    expect(states[states.length - 1]).toBe('up');

    await link.close();
    expect(link.state).toBe('closed');
  });

  it('open() on a missing port rejects, then the link comes up when the port appears', async () => {
    await pair.stop();
    const link = newLink();
    await expect(link.open()).rejects.toBeInstanceOf(P1PortError);
    expect(link.state).not.toBe('up');
    const up = nextState(link, 'up');
    await pair.start();
    await up;
    expect(link.stats().openFailures).toBeGreaterThanOrEqual(1);

    const writer = await newWriter();
    const got = nextTelegrams(link, 1);
    await writer.write(DSMR5);
    expect((await got)[0].values.export_t2?.value).toBe('0.000');
  });

  it('DSMR 2.2 settings (9600 7E1) and a telegram without CRC', async () => {
    const link = newLink(DSMR_22_SERIAL);
    await link.open();
    const writer = await newWriter();
    const got = nextTelegrams(link, 1);
    await writer.write(DSMR22);
    const [t] = await got;
    expect(t.version).toBe('2.2');
    expect(t.values.gas).toMatchObject({ value: '1.001', at: Date.parse('2016-11-07T19:00:00+01:00') });
  });

  it('close() stops retrying and ends in closed', async () => {
    await pair.stop();
    const link = newLink();
    await expect(link.open()).rejects.toBeInstanceOf(P1PortError);
    await link.close();
    expect(link.state).toBe('closed');
    const states: LinkState[] = [];
    link.on('state', (s) => states.push(s));
    await pair.start();
    // A fresh link proves the port is back; the closed one must not have moved.
    const probe = newLink();
    await probe.open();
    expect(states).toEqual([]);
    expect(link.state).toBe('closed');
  });
});
