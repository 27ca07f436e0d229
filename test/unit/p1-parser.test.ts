import fc from 'fast-check';
import { P1TelegramParser, crc16Arc, p1Crc, type P1ParserOptions, type P1ParserStats } from '../../gateway/links/p1-framer';
import { parseTelegram, p1TimeToEpochMs, type P1Telegram } from '../../gateway/links/p1-telegram';
import { errorCodesOf } from '../../gateway/base/error-codes';
import { P1OptionsError, P1TelegramError } from '../../gateway/links/p1-errors';
import { GatewayError } from '../../gateway/base/errors';
import {
  DSMR22,
  DSMR30,
  DSMR42_E350_SUMMER,
  DSMR42_KAIFA,
  DSMR5,
  DSMR5_ISKRA_AM550,
  DSMR5_SPEC,
  DSMR5_SPEC_BODY,
  DSMR5_SPEC_COMPUTED_CRC,
  DSMR5_SPEC_PRINTED_CRC,
  FLUVIUS_BE,
  SAGEMCOM_T210_WH,
  VALID,
  VALID_WITH_CRC,
} from '../sim/p1-samples';
import { buildTelegram } from '../sim/p1-writer';

interface Run {
  out: P1Telegram[];
  stats: P1ParserStats;
}

/** Feed `chunks` into a fresh parser, end it, collect what comes out. */
async function run(chunks: Buffer[], options?: P1ParserOptions): Promise<Run> {
  const parser = new P1TelegramParser(options);
  const out: P1Telegram[] = [];
  parser.on('data', (t: P1Telegram) => out.push(t));
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  for (const c of chunks) parser.write(c);
  parser.end();
  await ended;
  return { out, stats: { ...parser.stats } };
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Cut `buf` at the given (sorted, deduplicated) offsets. */
function cut(buf: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    if (p > prev) out.push(buf.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  return out;
}

const byteByByte = (s: string): Buffer[] => [...bytes(s)].map((b) => Buffer.from([b]));
const clean = (over: Partial<P1ParserStats> = {}): P1ParserStats => ({
  telegrams: 0,
  crcErrors: 0,
  truncated: 0,
  noiseBytes: 0,
  oversize: 0,
  unparsedLines: 0,
  malformed: 0,
  ...over,
});

describe('CRC16/ARC', () => {
  it('matches the published check value and the real samples', () => {
    expect(crc16Arc(bytes('123456789'))).toBe(0xbb3d);
    expect(crc16Arc(new Uint8Array(0))).toBe(0);
    for (const sample of VALID_WITH_CRC) {
      const bang = sample.indexOf('!');
      expect(p1Crc(sample.slice(0, bang + 1))).toBe(sample.slice(bang + 1, bang + 5));
    }
  });

  it('the CRC printed in the DSMR 5.0.2 standard example does not match its text', () => {
    expect(p1Crc(DSMR5_SPEC_BODY)).toBe(DSMR5_SPEC_COMPUTED_CRC);
    expect(DSMR5_SPEC_COMPUTED_CRC).not.toBe(DSMR5_SPEC_PRINTED_CRC);
  });
});

describe('P1TelegramParser framing', () => {
  it.each(VALID.map((s) => [s.split('\r\n')[0], s]))('%s passes byte by byte (sample %#)', async (_h, sample) => {
    const { out, stats } = await run(byteByByte(sample));
    expect(out).toHaveLength(1);
    expect(out[0].raw).toBe(sample.trimEnd());
    expect(stats).toEqual(clean({ telegrams: 1, unparsedLines: out[0].unparsed.length }));
  });

  it('drops the standard example as printed (CRC EF2F) and counts a CRC error', async () => {
    const { out, stats } = await run([bytes(`${DSMR5_SPEC_BODY}${DSMR5_SPEC_PRINTED_CRC}\r\n`)]);
    expect(out).toHaveLength(0);
    expect(stats).toEqual(clean({ crcErrors: 1 }));
  });

  it('accepts a lower-case CRC', async () => {
    const bang = DSMR5.indexOf('!');
    const lower = DSMR5.slice(0, bang + 1) + DSMR5.slice(bang + 1).toLowerCase();
    const { out } = await run([bytes(lower)]);
    expect(out.map((t) => t.crc)).toEqual(['6EEE']);
  });

  it('counts noise, truncation, bad CRC, a broken CRC line and a missing CRC', async () => {
    const bang = DSMR5.indexOf('!');
    const stream = [
      'garbage\x00\xff', // 9 noise bytes
      DSMR42_KAIFA.slice(0, 200), // truncated by the next '/'
      DSMR5.replace('000004.426', '000004.427'), // body changed, CRC no longer matches
      DSMR22,
      `${DSMR5.slice(0, bang + 1)}12G4\r\n`, // broken CRC line: 'G', '4' and the CRLF after it are noise
      `${DSMR5.slice(0, bang + 1)}\r\n`, // DSMR 5 (1-3:0.2.8) without CRC
      DSMR5,
    ].join('');
    const { out, stats } = await run([bytes(stream)]);
    expect(out.map((t) => t.header)).toEqual(['/ISk5\\2MT382-1004', '/ISk5\\2MT382-1000']);
    expect(stats).toEqual(clean({ telegrams: 2, truncated: 1, crcErrors: 3, noiseBytes: 9 + 4 }));
  });

  it('requireCrc drops DSMR 2.2 telegrams', async () => {
    const { out, stats } = await run([bytes(DSMR22 + DSMR5)], { requireCrc: true });
    expect(out.map((t) => t.version)).toEqual(['5']);
    expect(stats.crcErrors).toBe(1);
  });

  it('caps oversize garbage and recovers on the next telegram', async () => {
    const junk = `/${'A'.repeat(20_000)}`;
    const { out, stats } = await run(cut(bytes(junk + DSMR5), [100, 5000, 16_383, 16_384, 16_385]));
    expect(out).toHaveLength(1);
    // the first 16 KiB are the dropped frame; what follows up to the next '/' is noise
    expect(stats).toEqual(clean({ telegrams: 1, oversize: 1, noiseBytes: junk.length - 16 * 1024 }));
  });

  it('_flush drops and counts a partial telegram', async () => {
    const { out, stats } = await run([bytes(DSMR5 + DSMR42_KAIFA.slice(0, 300))]);
    expect(out).toHaveLength(1);
    expect(stats).toEqual(clean({ telegrams: 1, truncated: 1 }));
  });

  it('reset() drops a telegram in progress', async () => {
    const parser = new P1TelegramParser();
    const out: P1Telegram[] = [];
    parser.on('data', (t: P1Telegram) => out.push(t));
    parser.write(bytes(DSMR5.slice(0, 500)));
    parser.reset();
    parser.write(bytes(DSMR5.slice(500) + DSMR5));
    parser.end();
    await new Promise((r) => parser.on('end', r));
    expect(out).toHaveLength(1);
    expect(parser.stats).toEqual(clean({ telegrams: 1, truncated: 1, noiseBytes: DSMR5.length - 500 }));
  });

  it('checks its options', () => {
    expect(() => new P1TelegramParser({ maxTelegramBytes: 3 })).toThrow(P1OptionsError);
    expect(() => new P1TelegramParser({ maxTelegramBytes: 1.5 })).toThrow(P1OptionsError);
  });

  it('valid samples survive any chunking', async () => {
    const stream = bytes(VALID.join(''));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 40 }), async (offsets) => {
        const { out, stats } = await run(cut(stream, offsets));
        expect(out.map((t) => t.raw)).toEqual(VALID.map((s) => s.trimEnd()));
        expect(stats.telegrams).toBe(VALID.length);
        expect(stats.crcErrors + stats.truncated + stats.noiseBytes + stats.oversize + stats.malformed).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  type Item =
    | { kind: 'valid'; text: string }
    | { kind: 'noise'; text: string }
    | { kind: 'badCrc'; text: string }
    | { kind: 'truncated'; text: string };

  // Noise never holds '/' or '!' (telegram delimiters) nor begins with CR/LF (swallowed after a telegram).
  const noiseByte = fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x2f && b !== 0x21 && b !== 0x0d && b !== 0x0a);
  const item: fc.Arbitrary<Item> = fc.oneof(
    fc.constantFrom(...VALID).map((text): Item => ({ kind: 'valid', text })),
    fc.array(noiseByte, { minLength: 1, maxLength: 200 }).map((b): Item => ({ kind: 'noise', text: Buffer.from(b).toString('latin1') })),
    fc.tuple(fc.constantFrom(...VALID_WITH_CRC), fc.integer({ min: 1, max: 0xffff })).map(([s, d]): Item => {
      const bang = s.indexOf('!');
      const wrong = ((parseInt(s.slice(bang + 1, bang + 5), 16) + d) & 0xffff).toString(16).toUpperCase().padStart(4, '0');
      return { kind: 'badCrc', text: `${s.slice(0, bang + 1)}${wrong}\r\n` };
    }),
    fc
      .tuple(fc.constantFrom(...VALID), fc.nat())
      .map(([s, n]): Item => ({ kind: 'truncated', text: s.slice(0, 1 + (n % s.indexOf('!'))) })),
  );

  it('noise, bad CRCs and truncation in any mix and chunking: exactly the valid telegrams come out', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(item, { maxLength: 16 }), fc.array(fc.nat(), { maxLength: 30 }), async (items, offsets) => {
        // Model: noise right after a truncated telegram is swallowed into its body (no '!' yet).
        let crcErrors = 0;
        let truncated = 0;
        let noise = 0;
        let open = false;
        for (const it of items) {
          if (it.kind === 'noise') {
            if (!open) noise += it.text.length;
            continue;
          }
          if (open) truncated++;
          open = it.kind === 'truncated';
          if (it.kind === 'badCrc') crcErrors++;
        }
        if (open) truncated++; // dropped by _flush
        const { out, stats } = await run(cut(bytes(items.map((i) => i.text).join('')), offsets));
        expect(out.map((t) => t.raw)).toEqual(items.filter((i) => i.kind === 'valid').map((i) => i.text.trimEnd()));
        expect(stats.crcErrors).toBe(crcErrors);
        expect(stats.truncated).toBe(truncated);
        expect(stats.noiseBytes).toBe(noise);
        expect(stats.oversize + stats.malformed).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('random bytes never make it throw or error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), async (chunks) => {
        const { out, stats } = await run(
          chunks.map((c) => Buffer.from(c)),
          { maxTelegramBytes: 64 },
        );
        expect(out.length).toBe(stats.telegrams);
        expect(stats.malformed).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

describe('parseTelegram', () => {
  const one = async (sample: string): Promise<P1Telegram> => {
    const { out } = await run([bytes(sample)]);
    expect(out).toHaveLength(1);
    return out[0];
  };

  it('DSMR 5.0.2 standard example (CRC recomputed)', async () => {
    const t = await one(DSMR5_SPEC);
    expect(t.header).toBe('/ISk5\\2MT382-1000');
    expect(t.version).toBe('5');
    expect(t.versionRaw).toBe('50');
    expect(t.timestamp).toBe(Date.UTC(2010, 11, 9, 10, 30, 20)); // 11:30:20 CET
    expect(t.equipmentId).toBe('4B384547303034303436333935353037');
    expect(t.tariff).toBe('0002');
    expect(t.crc).toBe('E47C');
    expect(t.values.import_t1).toEqual({ obis: '1-0:1.8.1', value: '123456.789', raw: '123456.789', unit: 'kWh', micro: 123456789000n });
    expect(t.values.power_import).toEqual({ obis: '1-0:1.7.0', value: '1.193', raw: '01.193', unit: 'kW', micro: 1193000n });
    expect(t.values.power_export?.value).toBe('0.000');
    expect(t.values.gas).toEqual({
      obis: '0-1:24.2.1',
      value: '12785.123',
      raw: '12785.123',
      unit: 'm3',
      micro: 12785123000n,
      at: Date.UTC(2010, 11, 9, 10, 25, 0),
    });
    expect([t.values.voltage_l1?.value, t.values.voltage_l2?.value, t.values.voltage_l3?.value]).toEqual(['220.1', '220.2', '220.3']);
    expect([t.values.current_l1?.value, t.values.current_l2?.value, t.values.current_l3?.value]).toEqual(['1', '2', '3']);
    expect(t.values.power_export_l3).toMatchObject({ value: '6.666', unit: 'kW', micro: 6666000n });
    expect(t.mbus).toEqual([expect.objectContaining({ channel: 1, deviceType: 3, equipmentId: '3232323241424344313233343536373839' })]);
    expect(t.objects['0-0:96.7.21']).toEqual(['00004']);
    expect(t.objects['1-0:99.97.0']).toEqual(['2', '0-0:96.7.19', '101208152415W', '0000000240*s', '101208151004W', '0000000301*s']);
    expect(t.unparsed).toEqual([]);
  });

  it('DSMR 5.0: counters as exact decimal strings and micro-kWh', async () => {
    const t = await one(DSMR5);
    expect(t.timestamp).toBe(Date.UTC(2017, 0, 2, 18, 20, 2));
    const v = t.values;
    expect([v.import_t1?.value, v.import_t2?.value, v.export_t1?.value, v.export_t2?.value]).toEqual(['4.426', '2.399', '2.444', '0.000']);
    expect([v.import_t1?.micro, v.import_t2?.micro, v.export_t1?.micro, v.export_t2?.micro]).toEqual([4426000n, 2399000n, 2444000n, 0n]);
    expect(v.gas).toMatchObject({ value: '0.107', raw: '00000.107', micro: 107000n, at: Date.UTC(2017, 0, 2, 15, 10, 5) });
    expect(v.current_l1).toMatchObject({ value: '0.48', unit: 'A', micro: 480000n });
    expect(v.voltage_l3).toMatchObject({ value: '229.0', raw: '0229.0', unit: 'V' });
    for (const r of Object.values(v)) expect(typeof r.micro).toBe('bigint');
  });

  it('DSMR 5.0 without gas', async () => {
    const t = await one(DSMR5_ISKRA_AM550);
    expect(t.values.gas).toBeUndefined();
    expect(t.mbus).toEqual([]);
    expect(t.values.import_t1?.value).toBe('3432.829');
  });

  it('DSMR 4.2 (winter and summer time)', async () => {
    const kaifa = await one(DSMR42_KAIFA);
    expect(kaifa.version).toBe('4');
    expect(kaifa.versionRaw).toBe('42');
    expect(kaifa.timestamp).toBe(Date.UTC(2016, 10, 13, 19, 57, 57));
    expect(kaifa.values.import_t1).toMatchObject({ value: '1581.123', micro: 1581123000n });
    expect(kaifa.values.gas).toMatchObject({ value: '981.443', at: Date.UTC(2016, 10, 29, 19, 0, 0) });
    expect(kaifa.values.current_l2).toMatchObject({ value: '6', raw: '006', micro: 6000000n });

    const e350 = await one(DSMR42_E350_SUMMER);
    expect(e350.timestamp).toBe(Date.UTC(2019, 8, 5, 19, 40, 3)); // 21:40:03 CEST
    expect(e350.values.gas).toMatchObject({ value: '1091.352', at: Date.UTC(2019, 8, 5, 19, 0, 0) });
    expect(e350.values.export_t1?.value).toBe('0.313');
    expect(e350.values.voltage_l1).toBeUndefined();
  });

  it('Belgian e-MUCS: gas on 24.2.3', async () => {
    const t = await one(FLUVIUS_BE);
    expect(t.version).toBe('5');
    expect(t.versionRaw).toBe('50217');
    expect(t.timestamp).toBe(Date.UTC(2022, 11, 20, 19, 45, 56));
    expect(t.values.gas).toMatchObject({ obis: '0-1:24.2.3', value: '4761.307', at: Date.UTC(2022, 11, 20, 19, 39, 58) });
    expect(t.values.current_l1).toMatchObject({ value: '2.72', raw: '002.72' });
  });

  it('Wh and W are shifted exactly to kWh and kW', async () => {
    const t = await one(SAGEMCOM_T210_WH);
    expect(t.timestamp).toBe(Date.UTC(2022, 9, 6, 13, 50, 14));
    expect(t.values.import_t1).toEqual({ obis: '1-0:1.8.1', value: '5017.120', raw: '005017120', unit: 'kWh', micro: 5017120000n });
    expect(t.values.export_t2).toMatchObject({ value: '0.058', unit: 'kWh', micro: 58000n });
    expect(t.values.power_import).toMatchObject({ value: '0.286', unit: 'kW', micro: 286000n });
  });

  it('DSMR 2.2 and 3.0: no CRC, gas value on the next line, local time by the Amsterdam rules', async () => {
    const t22 = await one(DSMR22);
    expect(t22.version).toBe('2.2');
    expect(t22.crc).toBeNull();
    expect(t22.timestamp).toBeNull();
    expect(t22.values.power_import).toMatchObject({ value: '1.01', raw: '0001.01', micro: 1010000n });
    expect(t22.values.gas).toEqual({
      obis: '0-1:24.3.0',
      value: '1.001',
      raw: '00001.001',
      unit: 'm3',
      micro: 1001000n,
      at: Date.UTC(2016, 10, 7, 18, 0, 0),
    });
    expect(t22.unparsed).toEqual([]);

    const t30 = await one(DSMR30);
    expect(t30.version).toBe('2.2');
    expect(t30.values.import_t2).toMatchObject({ value: '12345.678', micro: 12345678000n });
    expect(t30.values.gas).toMatchObject({ value: '1.001', at: Date.UTC(2009, 1, 12, 15, 0, 0) });
  });

  it('counts and skips lines it does not understand', async () => {
    const text = buildTelegram([
      '/XMX5TEST',
      '',
      '1-3:0.2.8(50)',
      'hello world',
      '1-0:1.8.1(abc*kWh)',
      '1-0:1.8.2(000001.500*kWh)',
      '1-0:1.7.0(00.100*V)',
      '0-0:1.0.0(230230120000W)',
      '1-0:2.8.1(000001.1234567*kWh)',
    ]);
    const { out, stats } = await run([bytes(text)]);
    expect(out).toHaveLength(1);
    const t = out[0];
    expect(t.values.import_t1).toBeUndefined(); // not a number
    expect(t.values.power_import).toBeUndefined(); // wrong unit
    expect(t.timestamp).toBeNull(); // 30 February
    expect(t.values.import_t2?.value).toBe('1.500');
    expect(t.values.export_t1).toMatchObject({ value: '1.1234567', micro: 1123456n }); // truncated below 1 micro-kWh
    expect(t.unparsed).toEqual(['hello world', '0-0:1.0.0(230230120000W)', '1-0:1.8.1(abc*kWh)', '1-0:1.7.0(00.100*V)']);
    expect(stats.unparsedLines).toBe(4);
  });

  it('picks the gas meter by device type, not the water meter on channel 1', () => {
    const t = parseTelegram(
      buildTelegram([
        '/FLU5\\253769484_A',
        '',
        '0-0:96.1.4(50217)',
        '0-1:24.1.0(007)',
        '0-1:24.2.1(230421165102S)(00003.830*m3)',
        '0-2:24.1.0(003)',
        '0-2:24.2.3(230421165003S)(00123.456*m3)',
      ]),
    );
    expect(t.values.gas).toMatchObject({ obis: '0-2:24.2.3', value: '123.456', at: Date.UTC(2023, 3, 21, 14, 50, 3) });
    expect(t.mbus.map((m) => [m.channel, m.deviceType, m.value])).toEqual([
      [1, 7, '3.830'],
      [2, 3, '123.456'],
    ]);
  });

  it('rejects text that is not a telegram', () => {
    expect(() => parseTelegram('hello')).toThrow(P1TelegramError);
    expect(() => parseTelegram('!1234 /ABC')).toThrow(P1TelegramError);
  });
});

describe('P1 timestamps (Europe/Amsterdam)', () => {
  it('the S/W flag picks the offset, so the repeated autumn hour is unambiguous', () => {
    expect(p1TimeToEpochMs('231029025959S')).toBe(Date.UTC(2023, 9, 29, 0, 59, 59));
    expect(p1TimeToEpochMs('231029020000W')).toBe(Date.UTC(2023, 9, 29, 1, 0, 0));
    expect(p1TimeToEpochMs('230326030000S')).toBe(Date.UTC(2023, 2, 26, 1, 0, 0));
    expect(p1TimeToEpochMs('230326015959W')).toBe(Date.UTC(2023, 2, 26, 0, 59, 59));
  });

  it('without a flag the zone rules decide (repeated hour: the summer one)', () => {
    expect(p1TimeToEpochMs('230701120000')).toBe(Date.UTC(2023, 6, 1, 10, 0, 0));
    expect(p1TimeToEpochMs('230115120000')).toBe(Date.UTC(2023, 0, 15, 11, 0, 0));
    expect(p1TimeToEpochMs('231029023000')).toBe(Date.UTC(2023, 9, 29, 0, 30, 0));
    expect(p1TimeToEpochMs('230326023000')).toBe(Date.UTC(2023, 2, 26, 1, 30, 0)); // in the spring gap
  });

  it('rejects impossible dates', () => {
    for (const s of ['230230120000W', '231301120000W', '230101240000W', '230101126000W', '23010112000W', '230101120000X', '']) {
      expect(p1TimeToEpochMs(s)).toBeNull();
    }
  });
});

describe('P1 errors', () => {
  it('codes are unique GW_ERR_P1_* and the classes are GatewayErrors', () => {
    const codes = errorCodesOf('p1');
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^GW_ERR_P1_[A-Z_]+$/);
    const e = new P1TelegramError('x');
    expect(e).toBeInstanceOf(GatewayError);
    expect(e.code).toBe('GW_ERR_P1_TELEGRAM');
  });
});
