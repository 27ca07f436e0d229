/**
 * DSMR P1 framer: a Transform with bytes in (any chunking) and P1Telegram
 * objects out. A telegram runs from '/' to '!' and its CRC line: none for
 * DSMR 2.2/3.0, 4 hex digits of CRC16/ARC over '/'…'!' inclusive for DSMR
 * 4.x/5.0. Noise between telegrams, bad CRCs, truncated telegrams (a new '/'
 * before '!') and oversize garbage are dropped and counted in `stats`; nothing
 * here ever throws out of _transform (docs/architecture.md §9).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { P1OptionsError } from './p1-errors';
import { parseTelegram } from './p1-telegram';

export interface P1ParserOptions {
  /** Cap on '/'…'!' bytes; longer frames are dropped as `oversize`. Default 16 KiB. */
  maxTelegramBytes?: number;
  /**
   * Insist on a CRC for every telegram. Default false: telegrams that declare
   * DSMR 4+ (1-3:0.2.8) or Belgian e-MUCS (0-0:96.1.4) must carry one anyway,
   * DSMR 2.2/3.0 telegrams (no version line) may end in a bare '!'.
   */
  requireCrc?: boolean;
}

export interface P1ParserStats {
  /** Telegrams passed on. */
  telegrams: number;
  /** Dropped: CRC mismatch, a malformed CRC line, or a missing CRC where one is required. */
  crcErrors: number;
  /** Dropped: a new '/' before '!', a reset (port drop) or end of stream inside a telegram. */
  truncated: number;
  /** Bytes outside any telegram (CR/LF right after a telegram is not noise). */
  noiseBytes: number;
  /** Dropped: frames longer than maxTelegramBytes. */
  oversize: number;
  /** Lines inside passed-on telegrams that were not understood (and skipped). */
  unparsedLines: number;
  /** Frames that passed the CRC but could not be read as a telegram at all (should stay 0). */
  malformed: number;
}

export const P1_DEFAULT_MAX_TELEGRAM_BYTES = 16 * 1024;

const SLASH = 0x2f;
const BANG = 0x21;
const CR = 0x0d;
const LF = 0x0a;

/** CRC-16/ARC (poly 0x8005 reflected = 0xA001, init 0, no final xor), as DSMR 4+/5 uses. */
export function crc16Arc(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i];
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** The CRC line for a telegram body '/'…'!': 4 upper-case hex digits. */
export function p1Crc(frame: string): string {
  return crc16Arc(Buffer.from(frame, 'latin1')).toString(16).toUpperCase().padStart(4, '0');
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

type State = 'seek' | 'body' | 'crc' | 'trailer';

export class P1TelegramParser extends Transform {
  readonly stats: P1ParserStats = {
    telegrams: 0,
    crcErrors: 0,
    truncated: 0,
    noiseBytes: 0,
    oversize: 0,
    unparsedLines: 0,
    malformed: 0,
  };
  private readonly max: number;
  private readonly requireCrc: boolean;
  private readonly frame: Buffer;
  private len = 0;
  private state: State = 'seek';
  private crcValue = 0;
  private crcDigits = 0;

  constructor(options: P1ParserOptions = {}) {
    super({ readableObjectMode: true });
    const max = options.maxTelegramBytes ?? P1_DEFAULT_MAX_TELEGRAM_BYTES;
    if (!Number.isInteger(max) || max < 16 || max > 1 << 20) {
      throw new P1OptionsError(`maxTelegramBytes must be an integer 16…1048576, got ${String(max)}`);
    }
    this.max = max;
    this.requireCrc = options.requireCrc ?? false;
    this.frame = Buffer.alloc(max);
  }

  /** Drop a telegram in progress (counted as truncated), e.g. when the port went away mid-telegram. */
  reset(): void {
    if (this.state === 'body' || this.state === 'crc') this.stats.truncated++;
    this.state = 'seek';
    this.len = 0;
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
      for (let i = 0; i < bytes.length; i++) this.feed(bytes[i]);
    } catch {
      // Defensive: a bug here must not take the daemon down; drop what we had.
      this.stats.malformed++;
      this.state = 'seek';
      this.len = 0;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.reset();
    callback();
  }

  private feed(b: number): void {
    switch (this.state) {
      case 'trailer':
        if (b === CR || b === LF) return;
        this.state = 'seek';
        this.seek(b);
        return;
      case 'seek':
        this.seek(b);
        return;
      case 'body':
        if (b === SLASH) {
          this.stats.truncated++;
          this.begin();
          return;
        }
        if (this.len >= this.max) {
          this.stats.oversize++;
          this.state = 'seek';
          this.len = 0;
          this.seek(b);
          return;
        }
        this.frame[this.len++] = b;
        if (b === BANG) {
          this.state = 'crc';
          this.crcValue = 0;
          this.crcDigits = 0;
        }
        return;
      case 'crc': {
        const h = hexValue(b);
        if (h >= 0) {
          this.crcValue = (this.crcValue << 4) | h;
          if (++this.crcDigits === 4) this.finish(this.crcValue);
          return;
        }
        if ((b === CR || b === LF) && this.crcDigits === 0) {
          this.finish(null);
          return;
        }
        // A broken CRC line: drop the telegram and look at this byte afresh.
        this.stats.crcErrors++;
        this.state = 'seek';
        this.len = 0;
        this.seek(b);
        return;
      }
    }
  }

  private seek(b: number): void {
    if (b === SLASH) this.begin();
    else this.stats.noiseBytes++;
  }

  private begin(): void {
    this.frame[0] = SLASH;
    this.len = 1;
    this.state = 'body';
  }

  private finish(crc: number | null): void {
    const len = this.len;
    this.len = 0;
    this.state = 'trailer';
    const body = this.frame.toString('latin1', 0, len);
    if (crc === null) {
      if (this.requireCrc || body.includes('1-3:0.2.8(') || body.includes('0-0:96.1.4(')) {
        this.stats.crcErrors++;
        return;
      }
    } else if (crc16Arc(this.frame, 0, len) !== crc) {
      this.stats.crcErrors++;
      return;
    }
    const text = crc === null ? body : body + crc.toString(16).toUpperCase().padStart(4, '0');
    let telegram;
    try {
      telegram = parseTelegram(text);
    } catch {
      this.stats.malformed++;
      return;
    }
    this.stats.telegrams++;
    this.stats.unparsedLines += telegram.unparsed.length;
    this.push(telegram);
  }
}
