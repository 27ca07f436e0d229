import fc from 'fast-check';
import { counterWidth, decodePoint, microPerCount } from '../../gateway/devices/decode';
import { encodePoint } from '../../gateway/devices/encode';
import { errorCodesOf } from '../../gateway/base/error-codes';
import { pointWith, type ResolvedPoint, type ScalarType, type WordOrder } from '../../gateway/devices/point';
import { integerRange } from '../../gateway/devices/registers';
import { GatewayError } from '../../gateway/base/errors';

const DEVICE_ERROR_CODES = errorCodesOf('devices');

const ORDERS: WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

const pt = (over: Partial<ResolvedPoint> = {}): ResolvedPoint => pointWith('p', { writable: true, ...over });

const W = (...w: number[]) => Uint16Array.from(w);

/** [type, expected raw, expected value, registers per word order ABCD, CDAB, BADC, DCBA] */
const VECTORS: Array<[ScalarType, bigint | number, string, number[][]]> = [
  ['uint16', 0x1234n, '4660', [[0x1234], [0x1234], [0x3412], [0x3412]]],
  ['int16', -2n, '-2', [[0xfffe], [0xfffe], [0xfeff], [0xfeff]]],
  ['int16', -32768n, '-32768', [[0x8000], [0x8000], [0x0080], [0x0080]]],
  [
    'uint32',
    0x12345678n,
    '305419896',
    [
      [0x1234, 0x5678],
      [0x5678, 0x1234],
      [0x3412, 0x7856],
      [0x7856, 0x3412],
    ],
  ],
  [
    'int32',
    -2n,
    '-2',
    [
      [0xffff, 0xfffe],
      [0xfffe, 0xffff],
      [0xffff, 0xfeff],
      [0xfeff, 0xffff],
    ],
  ],
  [
    'uint64',
    0x0102030405060708n,
    '72623859790382856',
    [
      [0x0102, 0x0304, 0x0506, 0x0708],
      [0x0708, 0x0506, 0x0304, 0x0102],
      [0x0201, 0x0403, 0x0605, 0x0807],
      [0x0807, 0x0605, 0x0403, 0x0201],
    ],
  ],
  [
    'uint64',
    0xffffffffffffffffn,
    '18446744073709551615',
    [
      [0xffff, 0xffff, 0xffff, 0xffff],
      [0xffff, 0xffff, 0xffff, 0xffff],
      [0xffff, 0xffff, 0xffff, 0xffff],
      [0xffff, 0xffff, 0xffff, 0xffff],
    ],
  ],
  [
    'int64',
    -2n,
    '-2',
    [
      [0xffff, 0xffff, 0xffff, 0xfffe],
      [0xfffe, 0xffff, 0xffff, 0xffff],
      [0xffff, 0xffff, 0xffff, 0xfeff],
      [0xfeff, 0xffff, 0xffff, 0xffff],
    ],
  ],
  [
    'float32',
    123.456,
    '123.456',
    [
      [0x42f6, 0xe979],
      [0xe979, 0x42f6],
      [0xf642, 0x79e9],
      [0x79e9, 0xf642],
    ],
  ],
  [
    'float64',
    123.456,
    '123.456',
    [
      [0x405e, 0xdd2f, 0x1a9f, 0xbe77],
      [0xbe77, 0x1a9f, 0xdd2f, 0x405e],
      [0x5e40, 0x2fdd, 0x9f1a, 0x77be],
      [0x77be, 0x9f1a, 0x2fdd, 0x5e40],
    ],
  ],
];

describe('decodePoint: every type × word order against known registers', () => {
  for (const [type, raw, value, perOrder] of VECTORS) {
    ORDERS.forEach((order, i) => {
      test(`${type} ${String(raw)} ${order}`, () => {
        const d = decodePoint(pt({ type, wordOrder: order }), W(...perOrder[i]));
        expect(d.raw).toBe(raw);
        expect(d.value).toBe(value);
        expect(d.counterRaw).toBeUndefined();
      });
      test(`${type} ${String(raw)} ${order} encodes back to the same registers`, () => {
        expect(Array.from(encodePoint(pt({ type, wordOrder: order }), value) as Uint16Array)).toEqual(perOrder[i]);
      });
    });
  }

  test('strings: two characters per register, padding with NULs or spaces dropped', () => {
    const s5 = pt({ type: 'string', length: 5 });
    expect(decodePoint(s5, W(0x4142, 0x0000, 0x0000))).toEqual({ raw: 'AB', value: 'AB' });
    expect(decodePoint({ ...s5, wordOrder: 'CDAB' }, W(0x4142, 0x0000, 0x0000)).value).toBe('AB');
    expect(decodePoint({ ...s5, wordOrder: 'BADC' }, W(0x4241, 0x0000, 0x0000)).value).toBe('AB');
    expect(decodePoint({ ...s5, wordOrder: 'DCBA' }, W(0x4241, 0x0043, 0x0000)).value).toBe('ABC');
    const s8 = pt({ type: 'string', length: 8 });
    expect(decodePoint(s8, W(0x4845, 0x4c4c, 0x4f20, 0x2020)).value).toBe('HELLO');
    // odd length: the last byte of the last register is not part of the string
    expect(decodePoint(pt({ type: 'string', length: 3 }), W(0x4142, 0x4344)).value).toBe('ABC');
    expect(Array.from(encodePoint(s5, 'AB') as Uint16Array)).toEqual([0x4142, 0, 0]);
    expect(Array.from(encodePoint({ ...s5, wordOrder: 'BADC' }, 'ABC') as Uint16Array)).toEqual([0x4241, 0x0043, 0]);
  });

  test('bits and bool registers', () => {
    expect(decodePoint(pt({ area: 'coil', type: 'bool' }), [true])).toEqual({ raw: true, value: true });
    expect(decodePoint(pt({ area: 'discrete', type: 'bool' }), [false])).toEqual({ raw: false, value: false });
    expect(decodePoint(pt({ type: 'bool' }), W(0x0100))).toEqual({ raw: true, value: true });
    expect(decodePoint(pt({ type: 'bool' }), W(0))).toEqual({ raw: false, value: false });
  });

  test('wrong input shape or length is a coded DecodeError naming the point', () => {
    const p = pt({ name: 'flow', type: 'uint32' });
    expect(() => decodePoint(p, W(1))).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODE', pointName: 'flow' }));
    expect(() => decodePoint(p, [true, false])).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODE' }));
    expect(() => decodePoint(pt({ area: 'coil' }), W(1))).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODE' }));
  });

  test('NaN and Infinity floats are failed points, not values', () => {
    expect(() => decodePoint(pt({ type: 'float32' }), W(0x7fc0, 0))).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODE' }));
    expect(() => decodePoint(pt({ type: 'float32' }), W(0x7f80, 0))).toThrow(/Infinity/);
  });
});

describe('engineering values: raw × scale + offset, exact', () => {
  test('integer scale and offset keep the digits they need', () => {
    expect(decodePoint(pt({ scale: '0.1' }), W(1234)).value).toBe('123.4');
    expect(decodePoint(pt({ scale: '0.10' }), W(1230)).value).toBe('123.0');
    expect(decodePoint(pt({ type: 'int16', scale: '0.1' }), W(0xfffe)).value).toBe('-0.2');
    expect(decodePoint(pt({ scale: '0.001', offset: '-40' }), W(65000)).value).toBe('25.000');
    expect(decodePoint(pt({ scale: '2', offset: '0.5' }), W(3)).value).toBe('6.5');
    expect(decodePoint(pt({ scale: '0.000001' }), W(1)).value).toBe('0.000001');
    // 64-bit raw times a scale stays exact far beyond 2^53
    expect(decodePoint(pt({ type: 'uint64', scale: '0.001' }), W(0xffff, 0xffff, 0xffff, 0xffff)).value).toBe('18446744073709551.615');
  });

  test('floats: shortest decimal, scaled exactly, rounded once half-even to 6 digits', () => {
    const f32 = pt({ type: 'float32' });
    expect(decodePoint({ ...f32, scale: '0.1' }, W(0x42f6, 0xe979)).value).toBe('12.3456');
    expect(decodePoint({ ...f32, scale: '10', offset: '-1000' }, W(0x42f6, 0xe979)).value).toBe('234.56');
    const f64 = pt({ type: 'float64' });
    const words = (x: number) => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(x);
      return W(b.readUInt16BE(0), b.readUInt16BE(2), b.readUInt16BE(4), b.readUInt16BE(6));
    };
    expect(decodePoint(f64, words(5e-7)).value).toBe('0'); // 0.5 µ -> even 0
    expect(decodePoint(f64, words(1.5e-6)).value).toBe('0.000002'); // 1.5 µ -> even 2
    expect(decodePoint(f64, words(2.5e-6)).value).toBe('0.000002'); // 2.5 µ -> even 2
    expect(decodePoint(f64, words(-1.5e-6)).value).toBe('-0.000002');
    expect(decodePoint(f64, words(1e21)).value).toBe('1000000000000000000000');
    expect(decodePoint(f64, words(0.1)).raw).toBe(0.1);
  });
});

describe('counters', () => {
  test('counterRaw is the unsigned register value at the counter width', () => {
    const c = (type: ScalarType, scale = '1') => pt({ kind: 'counter', type, scale });
    expect(decodePoint(c('uint16'), W(65535)).counterRaw).toBe(65535n);
    expect(decodePoint(c('int16'), W(0xfffe)).counterRaw).toBe(65534n);
    expect(decodePoint(c('uint32'), W(0x1234, 0x5678)).counterRaw).toBe(0x12345678n);
    expect(decodePoint(c('int32'), W(0xffff, 0xfffe)).counterRaw).toBe(0xfffffffen);
    expect(decodePoint(c('int64'), W(0xffff, 0xffff, 0xffff, 0xfffe)).counterRaw).toBe(0xfffffffffffffffen);
    expect(decodePoint(c('uint32', '0.01'), W(0, 150)).value).toBe('1.50');
    expect(decodePoint(c('uint32', '0.01'), W(0, 150)).counterRaw).toBe(150n);
  });

  test('float counters give engineering micro-units', () => {
    const p = pt({ kind: 'counter', type: 'float32' });
    expect(decodePoint(p, W(0x42f6, 0xe979)).counterRaw).toBe(123456000n);
    expect(decodePoint({ ...p, scale: '0.001' }, W(0x42f6, 0xe979)).counterRaw).toBe(123456n);
  });

  test('counterWidth and microPerCount', () => {
    const widths: Array<[ScalarType, number]> = [
      ['int16', 16],
      ['uint16', 16],
      ['int32', 32],
      ['uint32', 32],
      ['int64', 64],
      ['uint64', 64],
      ['float32', 0],
      ['float64', 0],
    ];
    for (const [type, w] of widths) expect(counterWidth(pt({ kind: 'counter', type }))).toBe(w);
    expect(() => counterWidth(pt({ kind: 'counter', type: 'string', length: 4 }))).toThrow(
      expect.objectContaining({ code: 'GW_ERR_COUNTER_TYPE' }),
    );
    expect(() => counterWidth(pt({ kind: 'counter', area: 'coil', type: 'bool' }))).toThrow(GatewayError);
    expect(microPerCount(pt({ scale: '1' }))).toBe(1000000n);
    expect(microPerCount(pt({ scale: '0.001' }))).toBe(1000n);
    expect(microPerCount(pt({ scale: '2.5' }))).toBe(2500000n);
    expect(microPerCount(pt({ type: 'float32', scale: '0.001' }))).toBe(1n);
  });
});

describe('encodePoint', () => {
  test('inverse of scale and offset', () => {
    expect(Array.from(encodePoint(pt({ scale: '0.1' }), '123.4') as Uint16Array)).toEqual([1234]);
    expect(Array.from(encodePoint(pt({ scale: '0.1' }), 123.4) as Uint16Array)).toEqual([1234]);
    expect(Array.from(encodePoint(pt({ scale: '0.001', offset: '-40' }), '25') as Uint16Array)).toEqual([65000]);
    expect(Array.from(encodePoint(pt({ type: 'int16', scale: '0.5' }), '-1') as Uint16Array)).toEqual([0xfffe]);
    expect(Array.from(encodePoint(pt({ type: 'float32', scale: '0.1' }), '12.3456') as Uint16Array)).toEqual([0x42f6, 0xe979]);
  });

  test('coils and bool registers take booleans and their spellings', () => {
    const coil = pt({ area: 'coil', type: 'bool' });
    expect(encodePoint(coil, true)).toBe(true);
    expect(encodePoint(coil, 'false')).toBe(false);
    expect(encodePoint(coil, 1)).toBe(true);
    expect(encodePoint(coil, 'on')).toBe(true);
    expect(Array.from(encodePoint(pt({ type: 'bool' }), true) as Uint16Array)).toEqual([1]);
    expect(() => encodePoint(coil, 'maybe')).toThrow(expect.objectContaining({ code: 'GW_ERR_ENCODE_VALUE' }));
  });

  test('out of range, inexact and malformed values are coded errors naming the point', () => {
    const named = (over: Partial<ResolvedPoint>) => pt({ name: 'cycle', ...over });
    const err = (code: string) => expect.objectContaining({ code, pointName: 'cycle', message: expect.stringMatching(/cycle/) });
    expect(() => encodePoint(named({}), 70000)).toThrow(err('GW_ERR_ENCODE_RANGE'));
    expect(() => encodePoint(named({}), -1)).toThrow(err('GW_ERR_ENCODE_RANGE'));
    expect(() => encodePoint(named({ type: 'int16' }), '-32769')).toThrow(err('GW_ERR_ENCODE_RANGE'));
    expect(() => encodePoint(named({ type: 'uint64' }), '18446744073709551616')).toThrow(err('GW_ERR_ENCODE_RANGE'));
    expect(() => encodePoint(named({ scale: '0.1' }), '12.34')).toThrow(err('GW_ERR_ENCODE_INEXACT'));
    expect(() => encodePoint(named({}), '1.5')).toThrow(err('GW_ERR_ENCODE_INEXACT'));
    expect(() => encodePoint(named({ type: 'float32' }), '16777217')).toThrow(err('GW_ERR_ENCODE_INEXACT'));
    expect(() => encodePoint(named({ type: 'float32' }), '0.1234567')).toThrow(err('GW_ERR_ENCODE_INEXACT'));
    expect(() => encodePoint(named({ type: 'float32' }), '1e39')).toThrow(err('GW_ERR_ENCODE_RANGE'));
    expect(() => encodePoint(named({}), 'twelve')).toThrow(err('GW_ERR_ENCODE_VALUE'));
    expect(() => encodePoint(named({}), Number.NaN)).toThrow(err('GW_ERR_ENCODE_VALUE'));
    expect(() => encodePoint(named({}), true)).toThrow(err('GW_ERR_ENCODE_VALUE'));
    expect(() => encodePoint(named({ type: 'string', length: 2 }), 'abc')).toThrow(err('GW_ERR_ENCODE_RANGE'));
    expect(() => encodePoint(named({ type: 'string', length: 4 }), 'a€')).toThrow(err('GW_ERR_ENCODE_VALUE'));
    expect(() => encodePoint(named({ scale: '0' }), '0')).toThrow(err('GW_ERR_ENCODE_VALUE'));
  });

  test('property: every integer in range round-trips through every word order and scale', () => {
    const types = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.constantFrom(...ORDERS),
        fc.constantFrom('1', '0.1', '0.001', '2.5', '1000'),
        fc.constantFrom('0', '-40', '0.5'),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (type, wordOrder, scale, offset, pos) => {
          const { min, max } = integerRange(type);
          const raw = min + BigInt(Math.floor(pos * 1e6)) * ((max - min) / 1000000n);
          const p = pt({ type, wordOrder, scale, offset });
          const first = decodePoint(p, encodeFromRaw(p, raw));
          expect(first.raw).toBe(raw);
          const again = decodePoint(p, encodePoint(p, first.value as string) as Uint16Array);
          expect(again).toEqual(first);
        },
      ),
    );
  });

  test('property: a float32 value written back reads the same, or is refused as inexact', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(...ORDERS), (x, wordOrder) => {
        const p = pt({ type: 'float32', wordOrder });
        const b = Buffer.alloc(4);
        b.writeFloatBE(x);
        const regs = reorder([b.readUInt16BE(0), b.readUInt16BE(2)], wordOrder);
        const d = decodePoint(p, W(...regs));
        const shortest = String(d.raw);
        const unrounded = !/e/.test(shortest) && (shortest.split('.')[1] ?? '').length <= 6;
        let back: Uint16Array;
        try {
          back = encodePoint(p, d.value as string) as Uint16Array;
        } catch (e) {
          expect(unrounded).toBe(false);
          expect((e as GatewayError).code).toBe('GW_ERR_ENCODE_INEXACT');
          return;
        }
        expect(decodePoint(p, back).value).toBe(d.value);
        if (unrounded && !Object.is(x, -0)) expect(Array.from(back)).toEqual(regs);
      }),
    );
  });
});

test('device error codes are unique', () => {
  expect(new Set(DEVICE_ERROR_CODES).size).toBe(DEVICE_ERROR_CODES.length);
});

/** Registers holding `raw` in the point's word order (built independently of encodePoint). */
function encodeFromRaw(p: ResolvedPoint, raw: bigint): Uint16Array {
  const bits = p.type.endsWith('16') ? 16 : p.type.endsWith('32') ? 32 : 64;
  let u = BigInt.asUintN(bits, raw);
  const be: number[] = [];
  for (let i = 0; i < bits / 16; i++) {
    be.unshift(Number(u & 0xffffn));
    u >>= 16n;
  }
  return W(...reorder(be, p.wordOrder));
}

function reorder(be: number[], order: WordOrder): number[] {
  let words = be;
  if (order === 'CDAB' || order === 'DCBA') words = [...words].reverse();
  if (order === 'BADC' || order === 'DCBA') words = words.map((w) => ((w & 0xff) << 8) | (w >> 8));
  return words;
}
