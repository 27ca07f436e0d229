/**
 * RtuFramer (bytes in any chunking -> CRC-checked replies out, garbage counted)
 * and RtuPort's timing (t3.5 before a request, byte timeout ending a broken
 * reply) with an in-process wire and fake timers. Behaviour across a real wire
 * is in test/integration/modbus-rtu.test.ts and rtu-over-tcp.test.ts.
 */
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { RtuFramer, crc16Modbus, expectationFor, hasValidCrc, withCrc, type RtuExpectation } from '../../gateway/links/rtu-framer';
import { RtuPort } from '../../gateway/links/rtu-port';

const REQUEST = Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x02]);
const REPLY = withCrc(Uint8Array.from([0x01, 0x03, 0x04, 0x12, 0x34, 0x56, 0x78]));
const EXPECT: RtuExpectation = { unit: 1, fc: 3, length: 9 };

/** Feed chunks, collect frames. */
function feed(framer: RtuFramer, chunks: Uint8Array[]): Buffer[] {
  const frames: Buffer[] = [];
  framer.on('data', (f: Buffer) => frames.push(f));
  for (const c of chunks) framer.write(Buffer.from(c));
  return frames;
}

function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    if (c > prev) out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

describe('CRC-16/MODBUS and reply shapes', () => {
  test('known vectors', () => {
    expect(crc16Modbus(REQUEST)).toBe(0x0bc4); // sent as C4 0B
    expect([...withCrc(REQUEST)].slice(-2)).toEqual([0xc4, 0x0b]);
    expect(crc16Modbus(Buffer.from('123456789', 'latin1'))).toBe(0x4b37); // the CRC catalogue check value
    expect(hasValidCrc(REPLY, 0, REPLY.length)).toBe(true);
    expect(hasValidCrc(Buffer.from([...REPLY.subarray(0, -1), REPLY[REPLY.length - 1] ^ 1]), 0, REPLY.length)).toBe(false);
  });

  test('the reply a request asks for', () => {
    const req = (fn: number, count: number) => withCrc(Uint8Array.from([9, fn, 0, 0, count >> 8, count & 0xff]));
    expect(expectationFor(req(1, 11))).toEqual({ unit: 9, fc: 1, length: 7 }); // 2 data bytes
    expect(expectationFor(req(2, 16))).toEqual({ unit: 9, fc: 2, length: 7 });
    expect(expectationFor(req(3, 125))).toEqual({ unit: 9, fc: 3, length: 255 });
    expect(expectationFor(req(4, 1))).toEqual({ unit: 9, fc: 4, length: 7 });
    expect(expectationFor(req(5, 0xff00))).toEqual({ unit: 9, fc: 5, length: 8 });
    expect(expectationFor(req(6, 7))).toEqual({ unit: 9, fc: 6, length: 8 });
    expect(expectationFor(withCrc(Uint8Array.from([9, 16, 0, 0, 0, 2, 4, 0, 1, 0, 2])))).toEqual({ unit: 9, fc: 16, length: 8 });
    expect(expectationFor(req(43, 0))).toBeNull();
  });
});

describe('RtuFramer', () => {
  test('a reply in any chunking comes out once and whole', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
        const framer = new RtuFramer();
        framer.expect(EXPECT);
        const frames = feed(framer, chunked(REPLY, cuts));
        expect(frames).toEqual([REPLY]);
        expect(framer.stats).toEqual({ frames: 1, crcErrors: 0, truncatedFrames: 0, strayFrames: 0, noiseBytes: 0 });
        expect(framer.pending).toBe(0);
      }),
    );
  });

  test('noise and stray frames around a reply are dropped and counted, in any chunking', () => {
    const stray = withCrc(Uint8Array.from([7, 6, 0, 1, 0, 2])); // a late FC6 echo of unit 7
    // printable noise: never unit id 1 and never a function code, so it cannot start or fake a frame
    const noise = fc.uint8Array({ maxLength: 12 }).map((a) => a.map((b) => 0x20 + (b % 0x60)));
    fc.assert(
      fc.property(noise, fc.boolean(), noise, fc.array(fc.nat(), { maxLength: 10 }), (pre, withStray, post, cuts) => {
        const line = Buffer.concat([pre, withStray ? stray : Buffer.alloc(0), REPLY, post]);
        const framer = new RtuFramer();
        framer.expect(EXPECT);
        const frames = feed(framer, chunked(line, cuts));
        expect(frames).toEqual([REPLY]);
        // bytes after the reply in its own chunk are judged with it; later ones wait for the next judge()
        framer.judge();
        expect(framer.stats.frames).toBe(1);
        expect(framer.stats.strayFrames).toBe(withStray ? 1 : 0);
        expect(framer.stats.noiseBytes).toBe(pre.length + post.length);
      }),
    );
  });

  test('an exception reply is a frame', () => {
    const framer = new RtuFramer();
    framer.expect(EXPECT);
    const ex = withCrc(Uint8Array.from([1, 0x83, 2]));
    expect(feed(framer, [ex.subarray(0, 2), ex.subarray(2)])).toEqual([ex]);
  });

  test('a bad CRC and a truncated reply are judged on silence; noise alone keeps waiting', () => {
    const framer = new RtuFramer();
    const frames = feed(framer, []);
    framer.expect(EXPECT);
    framer.write(Buffer.from([...REPLY.subarray(0, -1), REPLY[REPLY.length - 1] ^ 0x5a]));
    expect(frames).toEqual([]);
    expect(framer.judge()).toBe('crc');
    expect(framer.expectation).toBeNull();

    framer.expect(EXPECT);
    framer.write(REPLY.subarray(0, 5));
    expect(framer.judge()).toBe('truncated');

    framer.expect(EXPECT);
    framer.write(Buffer.from([0x00, 0xff, 0x13]));
    expect(framer.judge()).toBeNull(); // the reply may still come
    expect(framer.expectation).toEqual(EXPECT);
    framer.write(REPLY);
    expect(frames).toEqual([REPLY]);
    expect(framer.stats).toEqual({ frames: 1, crcErrors: 1, truncatedFrames: 1, strayFrames: 0, noiseBytes: 3 });
  });

  test('bytes left over when the next request goes out are dropped first', () => {
    const framer = new RtuFramer();
    const frames = feed(framer, []);
    framer.expect(EXPECT);
    framer.write(REPLY.subarray(0, 4)); // a reply that never finished
    framer.expect(EXPECT); // the next request: the stale half must not join the new reply
    framer.write(REPLY);
    expect(frames).toEqual([REPLY]);
    expect(framer.stats.noiseBytes).toBe(4);
  });

  test('a flood of noise is trimmed, never buffered without bound', () => {
    const framer = new RtuFramer();
    framer.expect(EXPECT);
    for (let i = 0; i < 100; i++) framer.write(Buffer.alloc(100, 0x55));
    expect(framer.pending).toBeLessThanOrEqual(512);
    expect(framer.judge()).toBeNull();
    expect(framer.stats.noiseBytes).toBe(10_000);
  });
});

/** An in-process wire: records what is written, `receive()` plays bytes from the device. */
class FakeWire extends Duplex {
  readonly sent: Array<{ at: number; bytes: Buffer }> = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.sent.push({ at: performance.now(), bytes: chunk });
    done();
  }
  receive(bytes: Uint8Array): void {
    this.emit('data', Buffer.from(bytes));
  }
}

describe('RtuPort timing', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  test('keeps the line quiet for t3.5 after the last byte before sending', () => {
    const wire = new FakeWire();
    const port = new RtuPort(wire, { interFrameGapMs: 4, byteTimeoutMs: 20, charMs: 0, onFault: () => {} });
    const frames: Buffer[] = [];
    port.on('data', (f: Buffer) => frames.push(f));
    port.write(withCrc(REQUEST));
    expect(wire.sent).toHaveLength(1); // an idle line: at once
    jest.advanceTimersByTime(2);
    wire.receive(REPLY);
    expect(frames).toEqual([REPLY]);
    const repliedAt = performance.now();
    jest.advanceTimersByTime(1);
    port.write(withCrc(REQUEST));
    expect(wire.sent).toHaveLength(1); // 1 ms after the reply: held back
    jest.advanceTimersByTime(2);
    expect(wire.sent).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(wire.sent).toHaveLength(2);
    expect(wire.sent[1].at - repliedAt).toBeGreaterThanOrEqual(4);
    port.detach();
  });

  test('a request keeps the line busy for its own transmission time', () => {
    const wire = new FakeWire();
    const port = new RtuPort(wire, { interFrameGapMs: 4, byteTimeoutMs: 20, charMs: 1, onFault: () => {} });
    port.write(withCrc(REQUEST)); // 8 characters: 8 ms on the wire
    port.settle(); // e.g. a broadcast: no reply
    port.write(withCrc(REQUEST));
    jest.advanceTimersByTime(11);
    expect(wire.sent).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(wire.sent).toHaveLength(2);
    port.detach();
  });

  test('a broken reply fails the request after the byte timeout, not the request timeout', () => {
    const wire = new FakeWire();
    const faults: string[] = [];
    const port = new RtuPort(wire, { interFrameGapMs: 0, byteTimeoutMs: 20, charMs: 0, onFault: (f, e) => faults.push(`${f}:${e.unit}`) });
    port.write(withCrc(REQUEST));
    wire.receive(REPLY.subarray(0, 3));
    jest.advanceTimersByTime(15);
    wire.receive(REPLY.subarray(3, 6)); // still arriving: the silence starts over
    jest.advanceTimersByTime(19);
    expect(faults).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(faults).toEqual(['truncated:1']);
    expect(port.stats.truncatedFrames).toBe(1);
    port.detach();
    expect(port.isOpen).toBe(false);
  });
});
