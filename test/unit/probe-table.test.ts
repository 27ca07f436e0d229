/**
 * The probe table (pure formatting) and the option parsing that probe and
 * scan share. Expected values are computed independently of the decoder
 * (hand-written hex, Buffer encodings).
 */
import { errorCodesOf } from '../../gateway/base/error-codes';
import { CliUsageError } from '../../gateway/cli/errors';
import { areaAddressOptions, intOption, listOption } from '../../gateway/cli/modbus-target';
import { parseProbeRequest } from '../../gateway/cli/probe';
import {
  PROBE_TYPES,
  columnValue,
  formatProbeTable,
  modiconRegister,
  probeColumns,
  probeReport,
  probeRows,
  type ProbeColumn,
} from '../../gateway/cli/probe-table';
import { formatScanSummary, formatUnitRanges, parseScanRequest, type ScanResult } from '../../gateway/cli/scan';

const CLI_ERROR_CODES = errorCodesOf('cli');

const col = (key: string): ProbeColumn => {
  const c = probeColumns().find((x) => x.key === key);
  if (!c) throw new Error(`no column ${key}`);
  return c;
};

function floatWords(x: number, bits: 32 | 64): number[] {
  const b = Buffer.alloc(bits / 8);
  if (bits === 32) b.writeFloatBE(x);
  else b.writeDoubleBE(x);
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 2) out.push(b.readUInt16BE(i));
  return out;
}

describe('columns', () => {
  test('16-bit types once, 32- and 64-bit types in every word order, in a fixed order', () => {
    const keys = probeColumns().map((c) => c.key);
    expect(keys).toHaveLength(2 + 3 * 4 + 3 * 4);
    expect(keys.slice(0, 7)).toEqual(['uint16', 'int16', 'uint32 ABCD', 'uint32 CDAB', 'uint32 BADC', 'uint32 DCBA', 'int32 ABCD']);
    expect(keys[keys.length - 1]).toBe('float64 DCBA');
  });

  test('types and orders can be narrowed; the table order stays', () => {
    const keys = probeColumns({ types: ['float32', 'uint16'], orders: ['DCBA', 'CDAB'] }).map((c) => c.key);
    expect(keys).toEqual(['uint16', 'float32 CDAB', 'float32 DCBA']);
  });
});

describe('values', () => {
  const w = [0x1234, 0x5678, 0x9abc, 0xdef0];

  test('32-bit integers in each word order', () => {
    expect(columnValue(col('uint32 ABCD'), w)).toBe(String(0x12345678));
    expect(columnValue(col('uint32 CDAB'), w)).toBe(String(0x56781234));
    expect(columnValue(col('uint32 BADC'), w)).toBe(String(0x34127856));
    expect(columnValue(col('uint32 DCBA'), w)).toBe(String(0x78563412));
    expect(columnValue(col('int32 ABCD'), [0xffff, 0xfffe])).toBe('-2');
    expect(columnValue(col('int32 CDAB'), [0xfffe, 0xffff])).toBe('-2');
  });

  test('16-bit values', () => {
    expect(columnValue(col('uint16'), [0xffff])).toBe('65535');
    expect(columnValue(col('int16'), [0xffff])).toBe('-1');
    expect(columnValue(col('int16'), [0x8000])).toBe('-32768');
  });

  test('64-bit integers in each word order, beyond 2^53 exactly', () => {
    const one = [0, 0, 0, 1];
    expect(columnValue(col('uint64 ABCD'), one)).toBe('1');
    expect(columnValue(col('uint64 CDAB'), one)).toBe(String(1n << 48n));
    expect(columnValue(col('uint64 BADC'), one)).toBe('256');
    expect(columnValue(col('uint64 DCBA'), one)).toBe(String(1n << 56n));
    expect(columnValue(col('uint64 ABCD'), [0xffff, 0xffff, 0xffff, 0xffff])).toBe('18446744073709551615');
    expect(columnValue(col('int64 ABCD'), [0xffff, 0xffff, 0xffff, 0xffff])).toBe('-1');
  });

  test('floats in their shortest form, in each word order', () => {
    const f = floatWords(230.4, 32);
    expect(columnValue(col('float32 ABCD'), f)).toBe('230.4');
    expect(columnValue(col('float32 CDAB'), [f[1], f[0]])).toBe('230.4');
    const swap = (x: number) => ((x & 0xff) << 8) | (x >> 8);
    expect(columnValue(col('float32 BADC'), f.map(swap))).toBe('230.4');
    expect(columnValue(col('float32 DCBA'), [swap(f[1]), swap(f[0])])).toBe('230.4');
    expect(columnValue(col('float64 ABCD'), floatWords(-1234.5678, 64))).toBe('-1234.5678');
    expect(columnValue(col('float64 CDAB'), floatWords(0.1, 64).reverse())).toBe('0.1');
  });

  test('NaN and infinities are shown, not refused', () => {
    expect(columnValue(col('float32 ABCD'), [0x7fc0, 0])).toBe('NaN');
    expect(columnValue(col('float32 ABCD'), [0x7f80, 0])).toBe('Infinity');
    expect(columnValue(col('float32 ABCD'), [0xff80, 0])).toBe('-Infinity');
  });

  test('a type that does not fit in what is left is null', () => {
    expect(columnValue(col('uint32 ABCD'), [1])).toBeNull();
    expect(columnValue(col('float64 ABCD'), [1, 2, 3])).toBeNull();
  });
});

describe('rows', () => {
  test('one row per start offset with address, Modicon number, hex, ASCII and every column', () => {
    const rows = probeRows({ area: 'holding', address: 40000, words: [0x5375, 0x6e53, 0x0001, 0x0042] });
    expect(rows.map((r) => [r.offset, r.address, r.register, r.hex, r.ascii])).toEqual([
      [0, 40000, '440001', '5375', 'Su'],
      [1, 40001, '440002', '6E53', 'nS'],
      [2, 40002, '440003', '0001', '..'],
      [3, 40003, '440004', '0042', '.B'],
    ]);
    expect(rows[0].values?.['uint32 ABCD']).toBe(String(0x53756e53));
    expect(rows[0].values?.['uint64 ABCD']).toBe(String(0x53756e5300010042n));
    expect(rows[1].values?.['uint64 ABCD']).toBeNull();
    expect(rows[2].values?.['uint32 ABCD']).toBe(String(0x00010042));
    expect(rows[3].values?.['uint32 ABCD']).toBeNull();
    expect(rows[3].values?.uint16).toBe('66');
  });

  test('bits: one row per bit', () => {
    const rows = probeRows({ area: 'coil', address: 0, bits: [true, false] });
    expect(rows).toEqual([
      { offset: 0, address: 0, register: '00001', bit: true },
      { offset: 1, address: 1, register: '00002', bit: false },
    ]);
  });

  test('Modicon numbers: 5 digits up to 9999, 6 beyond, none past 65536', () => {
    expect(modiconRegister('holding', 0)).toBe('40001');
    expect(modiconRegister('input', 9998)).toBe('39999');
    expect(modiconRegister('input', 9999)).toBe('310000');
    expect(modiconRegister('discrete', 5)).toBe('10006');
    expect(modiconRegister('holding', 65535)).toBe('465536');
    expect(modiconRegister('holding', 65536)).toBeNull();
  });
});

describe('text table', () => {
  const f = floatWords(230.4, 32);
  const range = { area: 'input' as const, address: 0, words: [f[0], f[1], 0x0000, 0x04d2] };

  test('a header and one line per offset; each value right-aligned under its column', () => {
    const text = formatProbeTable(range);
    const lines = text.split('\n');
    expect(lines).toHaveLength(1 + 4);
    const header = lines[0];
    expect(header.startsWith('offset  address  register  hex   ascii  uint16  int16  uint32 ABCD')).toBe(true);
    const cell = (line: string, key: string, value: string) => {
      const end = header.indexOf(key) + key.length;
      expect(line.slice(end - value.length, end)).toBe(value);
      expect(line[end] === undefined || line[end] === ' ').toBe(true);
    };
    cell(lines[1], 'float32 ABCD', '230.4');
    cell(lines[1], 'uint16', String(f[0]));
    cell(lines[3], 'uint32 ABCD', '1234');
    cell(lines[4], 'uint16', '1234');
    cell(lines[2], 'register', '30002');
    expect(text.endsWith('\n')).toBe(false);
    expect(lines.every((l) => l === l.trimEnd())).toBe(true);
  });

  test('narrowed columns', () => {
    const text = formatProbeTable(range, { types: ['float32'], orders: ['ABCD'] });
    expect(text.split('\n')[0].split(/\s{2,}/)).toEqual(['offset', 'address', 'register', 'hex', 'ascii', 'float32 ABCD']);
    expect(text.split('\n')[1]).toMatch(/^ +0 +0 +30001 {2}4366 {2}Cf +230\.4$/);
  });

  test('a bit range', () => {
    expect(formatProbeTable({ area: 'discrete', address: 7, bits: [true, false] })).toBe(
      ['offset  address  register  value', '     0        7     10008      1', '     1        8     10009      0'].join('\n'),
    );
  });
});

describe('JSON report', () => {
  test('words, columns and rows; every value a string or null', () => {
    const r = probeReport({ area: 'holding', address: 10, words: [1, 2] }, { types: ['uint32'] });
    expect(r).toMatchObject({ area: 'holding', address: 10, count: 2, words: [1, 2] });
    expect(r.columns).toEqual(['uint32 ABCD', 'uint32 CDAB', 'uint32 BADC', 'uint32 DCBA']);
    expect(r.rows[0].values).toEqual({
      'uint32 ABCD': '65538',
      'uint32 CDAB': '131073',
      'uint32 BADC': String(0x01000200),
      'uint32 DCBA': String(0x02000100),
    });
    expect(r.rows[1].values).toEqual({ 'uint32 ABCD': null, 'uint32 CDAB': null, 'uint32 BADC': null, 'uint32 DCBA': null });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe('option parsing', () => {
  test('integers: decimal or 0x hex, range-checked, with defaults', () => {
    expect(intOption('--address', '0x9C40', 0, 65535)).toBe(40000);
    expect(intOption('--address', '17', 0, 65535)).toBe(17);
    expect(intOption('--address', undefined, 0, 65535, 5)).toBe(5);
    expect(() => intOption('--unit', '256', 0, 255)).toThrow('--unit: must be 0..255, got 256');
    expect(() => intOption('--unit', '1.5', 0, 255)).toThrow('--unit: expected an integer, got "1.5"');
    expect(() => intOption('--unit', '-1', 0, 255)).toThrow(CliUsageError);
    expect(() => intOption('--unit', undefined, 0, 255)).toThrow('--unit: required');
  });

  test('--register (Modicon) or --area/--address, not both', () => {
    expect(areaAddressOptions({ register: '30001' })).toEqual({ area: 'input', address: 0 });
    expect(areaAddressOptions({ register: '440001' })).toEqual({ area: 'holding', address: 40000 });
    expect(areaAddressOptions({})).toEqual({ area: 'holding', address: 0 });
    expect(areaAddressOptions({ area: 'Coil', address: '3' })).toEqual({ area: 'coil', address: 3 });
    expect(() => areaAddressOptions({ register: '40001', area: 'input' })).toThrow(/either --register or --area/);
    expect(() => areaAddressOptions({ register: '50001' })).toThrow(/--register: "50001" is not a Modicon register/);
    expect(() => areaAddressOptions({ area: 'eeprom' })).toThrow(/--area: expected one of holding, input, coil, discrete/);
  });

  test('lists', () => {
    expect(listOption('--types', 'FLOAT32, uint16,float32', PROBE_TYPES)).toEqual(['float32', 'uint16']);
    expect(listOption('--types', undefined, PROBE_TYPES)).toEqual([...PROBE_TYPES]);
    expect(() => listOption('--types', 'float16', PROBE_TYPES)).toThrow(/unknown "float16"/);
    expect(() => listOption('--types', ',', PROBE_TYPES)).toThrow(CliUsageError);
  });

  test('probe request: defaults, count limits by area and by the end of the address space', () => {
    expect(parseProbeRequest({})).toEqual({ unitId: 1, area: 'holding', address: 0, count: 10 });
    expect(parseProbeRequest({ unit: '247', register: '30073', count: '4' })).toEqual({
      unitId: 247,
      area: 'input',
      address: 72,
      count: 4,
    });
    expect(parseProbeRequest({ address: '65530' }).count).toBe(6);
    expect(parseProbeRequest({ area: 'coil', count: '2000' }).count).toBe(2000);
    expect(() => parseProbeRequest({ count: '126' })).toThrow('--count: must be 1..125, got 126');
    expect(() => parseProbeRequest({ area: 'discrete', count: '2001' })).toThrow('--count: must be 1..2000');
    expect(() => parseProbeRequest({ count: '0' })).toThrow(CliUsageError);
  });

  test('scan request: 1..247 by default, --from after --to refused', () => {
    expect(parseScanRequest({})).toEqual({ from: 1, to: 247, area: 'holding', address: 0 });
    expect(parseScanRequest({ from: '3', to: '3', area: 'input', address: '10' })).toEqual({ from: 3, to: 3, area: 'input', address: 10 });
    expect(() => parseScanRequest({ from: '5', to: '4' })).toThrow('--from: 5 is after --to 4');
  });

  test('CLI error codes are unique and coded', () => {
    expect(new Set(CLI_ERROR_CODES).size).toBe(CLI_ERROR_CODES.length);
    expect(new CliUsageError('--x', 'bad').code).toBe('GW_ERR_USAGE');
  });
});

describe('scan summary', () => {
  test('unit id ranges', () => {
    expect(formatUnitRanges([1, 2, 3, 5, 7, 8])).toBe('1-3, 5, 7-8');
    expect(formatUnitRanges([])).toBe('');
    expect(formatUnitRanges([247])).toBe('247');
  });

  test('lists what answered, gateway exceptions, garbled answers and silence', () => {
    const r: ScanResult = {
      from: 1,
      to: 9,
      area: 'holding',
      address: 0,
      scanned: 9,
      found: [
        { unitId: 1, answer: 'data', words: [258] },
        { unitId: 3, answer: 'exception', exceptionCode: 2, exceptionName: 'illegal data address' },
      ],
      gatewayExceptions: [
        { unitId: 2, exceptionCode: 11, exceptionName: 'gateway target device failed to respond' },
        { unitId: 4, exceptionCode: 11, exceptionName: 'gateway target device failed to respond' },
      ],
      garbled: [{ unitId: 5, error: 'bad CRC' }],
      silent: [6, 7, 8, 9],
    };
    expect(formatScanSummary(r, 'link plant (modbus-tcp)')).toBe(
      [
        'scan link plant (modbus-tcp): unit ids 1..9, holding 0; 9 scanned',
        '2 units answered:',
        '  unit    1  data: 258 (0x0102)',
        '  unit    3  exception 2 (illegal data address)',
        'gateway exception 11 (gateway target device failed to respond), no device behind it: 2, 4',
        'garbled answer from unit 5: bad CRC',
        'no answer: 6-9',
      ].join('\n'),
    );
    expect(formatScanSummary({ ...r, found: [], gatewayExceptions: [], garbled: [], stopped: 'interrupted' }, 'x')).toMatch(
      /no unit answered\nno answer: 6-9\nstopped early: interrupted$/,
    );
  });
});
