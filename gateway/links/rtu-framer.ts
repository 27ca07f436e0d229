/**
 * RTU reply framer: a Transform with line bytes in (any chunking) and whole,
 * CRC-checked reply frames out (docs/architecture.md §9: garbage is counted and dropped).
 *
 * Modbus RTU has no length field and no transaction id: a reply is found by
 * what the request asked for. Before each request the port calls
 * `expect({unit, fc, length})`; the framer then scans its buffer at every
 * offset for `unit, fc` + `length` bytes (or `unit, fc|0x80` + 5 bytes, an
 * exception) with a valid CRC-16/MODBUS. The first such frame is pushed and
 * everything else in the buffer is dropped and counted:
 *  - noiseBytes:      bytes that belong to no frame (line noise, an adapter's echo);
 *  - strayFrames:     valid frames that answer no pending request (a late reply
 *                     of a unit that already timed out, another master);
 *  - crcErrors:       a reply-shaped frame whose CRC does not match;
 *  - truncatedFrames: a reply that started but stopped short.
 * Bad-CRC and truncated replies can only be told from "more bytes coming" by
 * line silence: the port calls `judge()` when the line has been quiet for its
 * byte timeout (or the request timed out); it classifies and drops whatever is
 * buffered. Nothing here throws out of _transform.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** What the pending request's reply looks like. */
export interface RtuExpectation {
  unit: number;
  fc: number;
  /** Bytes of a normal (non-exception) reply, CRC included. */
  length: number;
}

export type RtuFault = 'crc' | 'truncated';

export interface RtuFramerStats {
  /** Replies passed on. */
  frames: number;
  crcErrors: number;
  truncatedFrames: number;
  strayFrames: number;
  noiseBytes: number;
}

/** The largest RTU frame (address + PDU 253 + CRC); a buffer beyond twice that is trimmed as noise. */
export const RTU_MAX_FRAME = 256;
const EXCEPTION_LENGTH = 5;

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of bytes[start, end). Sent low byte first. */
export function crc16Modbus(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ bytes[i]) & 0xff];
  return crc;
}

/** Does bytes[start, end) end in its own valid CRC? */
export function hasValidCrc(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start < 4) return false;
  const crc = crc16Modbus(bytes, start, end - 2);
  return bytes[end - 2] === (crc & 0xff) && bytes[end - 1] === crc >>> 8;
}

/** Append the CRC to a frame body. */
export function withCrc(body: Uint8Array): Buffer {
  const out = Buffer.alloc(body.length + 2);
  out.set(body);
  out.writeUInt16LE(crc16Modbus(body), body.length);
  return out;
}

/** The reply a request frame asks for (FC 1-6, 15, 16), or null for anything else. */
export function expectationFor(request: Uint8Array): RtuExpectation | null {
  if (request.length < 8) return null;
  const unit = request[0];
  const fc = request[1];
  const count = (request[4] << 8) | request[5];
  switch (fc) {
    case 1:
    case 2:
      return { unit, fc, length: 5 + Math.ceil(count / 8) };
    case 3:
    case 4:
      return { unit, fc, length: 5 + 2 * count };
    case 5:
    case 6:
    case 15:
    case 16:
      return { unit, fc, length: 8 };
    default:
      return null;
  }
}

/** Length of a reply frame of any unit starting at b[i], judged from its header; 0 if not a known shape. */
function replyLength(b: Uint8Array, i: number): number {
  const fc = b[i + 1];
  if (fc >= 0x81 && fc <= 0x90) return EXCEPTION_LENGTH;
  if (fc >= 1 && fc <= 4) return i + 2 < b.length ? 5 + b[i + 2] : 0;
  if (fc === 5 || fc === 6 || fc === 15 || fc === 16) return 8;
  return 0;
}

export class RtuFramer extends Transform {
  readonly stats: RtuFramerStats = { frames: 0, crcErrors: 0, truncatedFrames: 0, strayFrames: 0, noiseBytes: 0 };
  private buf: Buffer = Buffer.alloc(0);
  private exp: RtuExpectation | null = null;

  constructor() {
    super({ readableObjectMode: true });
  }

  /** Bytes buffered and not yet judged. */
  get pending(): number {
    return this.buf.length;
  }

  /** The reply being waited for, if any. */
  get expectation(): RtuExpectation | null {
    return this.exp;
  }

  /**
   * A new request goes out (or, with null, the current one was abandoned):
   * whatever is buffered belongs to no request and is dropped first.
   */
  expect(e: RtuExpectation | null): void {
    this.exp = null;
    if (this.buf.length > 0) this.judge();
    this.exp = e;
  }

  /**
   * The line went quiet: classify and drop what is buffered. Returns the fault
   * when the pending reply arrived broken (the request has failed; the
   * expectation is cleared); null when the bytes were only noise or stray
   * frames (a reply may still come).
   */
  judge(): RtuFault | null {
    const b = this.buf;
    if (b.length === 0) return null;
    this.buf = Buffer.alloc(0);
    let fault: RtuFault | null = null;
    let faultBytes = 0;
    const e = this.exp;
    if (e) {
      for (let i = 0; i + 1 < b.length; i++) {
        const len = this.candidateLength(b, i, e);
        if (len === 0) continue;
        if (i + len <= b.length) {
          fault = 'crc'; // a complete reply-shaped frame that scan() did not accept
          faultBytes = len;
          break;
        }
        if (!fault) {
          fault = 'truncated';
          faultBytes = b.length - i;
        }
      }
    }
    const strayBytes = this.countStrays(b);
    this.stats.noiseBytes += Math.max(0, b.length - faultBytes - strayBytes);
    if (fault === 'crc') this.stats.crcErrors += 1;
    else if (fault === 'truncated') this.stats.truncatedFrames += 1;
    if (fault) this.exp = null;
    return fault;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    if (this.buf.length > 2 * RTU_MAX_FRAME) {
      const cut = this.buf.length - RTU_MAX_FRAME;
      this.stats.noiseBytes += cut;
      this.buf = this.buf.subarray(cut);
    }
    this.scan();
    done();
  }

  override _flush(done: TransformCallback): void {
    this.judge();
    done();
  }

  /** Length of the pending reply if one could start at b[i], else 0. */
  private candidateLength(b: Uint8Array, i: number, e: RtuExpectation): number {
    if (b[i] !== e.unit) return 0;
    if (b[i + 1] === e.fc) return e.length;
    if (b[i + 1] === (e.fc | 0x80)) return EXCEPTION_LENGTH;
    return 0;
  }

  /** Pass on the first complete, valid reply to the pending request, dropping the rest of the buffer. */
  private scan(): void {
    const e = this.exp;
    const b = this.buf;
    if (!e) return;
    for (let i = 0; i + 1 < b.length; i++) {
      const len = this.candidateLength(b, i, e);
      if (len === 0 || i + len > b.length || !hasValidCrc(b, i, i + len)) continue;
      const frame = Buffer.from(b.subarray(i, i + len));
      const before = b.subarray(0, i);
      const after = b.subarray(i + len);
      const strayBytes = this.countStrays(before) + this.countStrays(after);
      this.stats.noiseBytes += before.length + after.length - strayBytes;
      this.stats.frames += 1;
      this.buf = Buffer.alloc(0);
      this.exp = null;
      this.push(frame);
      return;
    }
  }

  /** Count valid frames of any unit in b (late replies); returns their total bytes. */
  private countStrays(b: Uint8Array): number {
    let bytes = 0;
    for (let i = 0; i + 4 <= b.length;) {
      const len = replyLength(b, i);
      if (len > 0 && i + len <= b.length && hasValidCrc(b, i, i + len)) {
        this.stats.strayFrames += 1;
        bytes += len;
        i += len;
      } else {
        i += 1;
      }
    }
    return bytes;
  }
}
