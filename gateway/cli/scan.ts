/**
 * `m2m-gateway scan`: walk unit ids on a link and report which ones answer.
 *
 * Each unit id gets one read of one register (or bit) — holding 0 unless
 * `--area/--address/--register` say otherwise — with a short timeout
 * (`--timeout-ms`, default 200; on a TCP link it also bounds the connect).
 *  - an answer with data: present;
 *  - a Modbus exception 1..9 (illegal address, function ...): present — a
 *    device answered, it just does not like that register;
 *  - exception 10/11 (gateway path unavailable / target failed to respond):
 *    NOT present — a TCP-to-RTU gateway answered for an absent device;
 *  - a garbled answer (CRC, length): listed apart — something answered;
 *  - no answer within the timeout: absent.
 * A link that drops mid-scan (some gateways hang up on unknown units) is
 * reopened and the walk goes on; when it cannot be reopened the scan stops
 * with what it found so far and exit 3.
 *
 * A progress bar (cli-progress) draws on stderr when stderr is a terminal.
 * SIGINT stops the walk and prints what was found so far.
 */
import { Presets, SingleBar } from 'cli-progress';
import { LinkDownError, MODBUS_EXCEPTION_NAMES, ModbusExceptionError, ModbusProtocolError, ModbusTimeoutError } from '../links/errors';
import type { Area, ModbusLink } from '../links/link';
import type { BusQueue } from '../poll/bus-queue';
import { processIo, reportCommandError, type CliIo } from './cli-io';
import { EXIT_OK, EXIT_RUNTIME } from './exit-codes';
import { CliUsageError } from './errors';
import {
  areaAddressOptions,
  intOption,
  openModbusLink,
  resolveLinkConfig,
  type AreaAddressOptions,
  type TargetOptions,
} from './modbus-target';

export const DEFAULT_SCAN_TIMEOUT_MS = 200;

export interface ScanOptions extends TargetOptions, AreaAddressOptions {
  from?: string;
  to?: string;
  json?: boolean;
}

export interface ScanRequest {
  from: number;
  to: number;
  area: Area;
  address: number;
}

/** A unit id that answered. */
export type UnitAnswer =
  | { unitId: number; answer: 'data'; words?: number[]; bits?: boolean[] }
  | { unitId: number; answer: 'exception'; exceptionCode: number; exceptionName: string };

export type UnitOutcome =
  | UnitAnswer
  | { unitId: number; answer: 'gateway-exception'; exceptionCode: number; exceptionName: string }
  | { unitId: number; answer: 'garbled'; error: string }
  | { unitId: number; answer: 'none'; reason: 'timeout' | 'link-dropped' };

export interface ScanResult extends ScanRequest {
  /** Unit ids that got a request. */
  scanned: number;
  /** Units that answered (data or exception 1..9), in unit-id order. */
  found: UnitAnswer[];
  /** Exception 10/11 from a gateway: no device behind it with that unit id. */
  gatewayExceptions: Array<{ unitId: number; exceptionCode: number; exceptionName: string }>;
  /** Something answered, but not a valid reply (CRC, length). */
  garbled: Array<{ unitId: number; error: string }>;
  /** Unit ids without an answer (timeout, or the link dropped during their request). */
  silent: number[];
  /** Set when the walk stopped early: "interrupted" or why the link was lost. */
  stopped?: string;
}

export interface ScanHooks {
  /** Called after every unit id. */
  onUnit?: (outcome: UnitOutcome, index: number) => void;
  /** Stops the walk between two unit ids. */
  signal?: AbortSignal;
  /** Run each request through the bus's queue when the bus is shared. */
  queue?: BusQueue;
}

const exceptionName = (code: number): string => MODBUS_EXCEPTION_NAMES[code] ?? 'unknown exception';

/** One unit id, one read: what came back. Throws only what is not about the unit (a bad request). */
export async function probeUnit(link: ModbusLink, unitId: number, area: Area, address: number, queue?: BusQueue): Promise<UnitOutcome> {
  const job = async (): Promise<UnitOutcome> =>
    area === 'coil' || area === 'discrete'
      ? { unitId, answer: 'data', bits: await link.readBits(unitId, area, address, 1) }
      : { unitId, answer: 'data', words: Array.from(await link.readRegisters(unitId, area, address, 1)) };
  try {
    return await (queue ? queue.run(job) : job());
  } catch (e) {
    if (e instanceof ModbusExceptionError) {
      const kind = e.exceptionCode === 10 || e.exceptionCode === 11 ? 'gateway-exception' : 'exception';
      return { unitId, answer: kind, exceptionCode: e.exceptionCode, exceptionName: exceptionName(e.exceptionCode) };
    }
    if (e instanceof ModbusTimeoutError) return { unitId, answer: 'none', reason: 'timeout' };
    if (e instanceof ModbusProtocolError) return { unitId, answer: 'garbled', error: e.message };
    if (e instanceof LinkDownError) return { unitId, answer: 'none', reason: 'link-dropped' };
    throw e;
  }
}

/** Walk req.from..req.to on an open link. */
export async function scanUnits(link: ModbusLink, req: ScanRequest, hooks: ScanHooks = {}): Promise<ScanResult> {
  const result: ScanResult = { ...req, scanned: 0, found: [], gatewayExceptions: [], garbled: [], silent: [] };
  for (let unitId = req.from; unitId <= req.to; unitId++) {
    if (hooks.signal?.aborted) {
      result.stopped = 'interrupted';
      break;
    }
    const outcome = await probeUnit(link, unitId, req.area, req.address, hooks.queue);
    result.scanned++;
    switch (outcome.answer) {
      case 'data':
      case 'exception':
        result.found.push(outcome);
        break;
      case 'gateway-exception':
        result.gatewayExceptions.push({ unitId, exceptionCode: outcome.exceptionCode, exceptionName: outcome.exceptionName });
        break;
      case 'garbled':
        result.garbled.push({ unitId, error: outcome.error });
        break;
      case 'none':
        result.silent.push(unitId);
        break;
    }
    hooks.onUnit?.(outcome, result.scanned - 1);
    if (outcome.answer === 'none' && outcome.reason === 'link-dropped' && unitId < req.to) {
      try {
        await link.open();
      } catch (e) {
        result.stopped = `link lost after unit ${unitId}: ${(e as Error).message}`;
        break;
      }
    }
  }
  return result;
}

/** "1-3, 7, 9-12" for a sorted list of unit ids. */
export function formatUnitRanges(ids: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ids.length;) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1) j++;
    parts.push(j === i ? String(ids[i]) : `${ids[i]}-${ids[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

function answerText(a: UnitAnswer): string {
  if (a.answer === 'exception') return `exception ${a.exceptionCode} (${a.exceptionName})`;
  if (a.bits) return `data: ${a.bits.map((b) => (b ? 1 : 0)).join(' ')}`;
  const w = a.words?.[0] ?? 0;
  return `data: ${w} (0x${w.toString(16).toUpperCase().padStart(4, '0')})`;
}

/** The human summary of a scan (no trailing newline). */
export function formatScanSummary(r: ScanResult, source: string): string {
  const lines = [`scan ${source}: unit ids ${r.from}..${r.to}, ${r.area} ${r.address}; ${r.scanned} scanned`];
  if (r.found.length === 0) lines.push('no unit answered');
  else {
    lines.push(`${r.found.length} unit${r.found.length === 1 ? '' : 's'} answered:`);
    const w = Math.max(4, ...r.found.map((a) => String(a.unitId).length));
    for (const a of r.found) lines.push(`  unit ${String(a.unitId).padStart(w)}  ${answerText(a)}`);
  }
  const byCode = new Map<number, number[]>();
  for (const g of r.gatewayExceptions) byCode.set(g.exceptionCode, [...(byCode.get(g.exceptionCode) ?? []), g.unitId]);
  for (const [code, ids] of byCode) {
    lines.push(`gateway exception ${code} (${exceptionName(code)}), no device behind it: ${formatUnitRanges(ids)}`);
  }
  for (const g of r.garbled) lines.push(`garbled answer from unit ${g.unitId}: ${g.error}`);
  if (r.silent.length > 0) lines.push(`no answer: ${formatUnitRanges(r.silent)}`);
  if (r.stopped) lines.push(`stopped early: ${r.stopped}`);
  return lines.join('\n');
}

/** Options -> request (throws CliUsageError). */
export function parseScanRequest(opts: ScanOptions): ScanRequest {
  const from = intOption('--from', opts.from, 0, 255, 1);
  const to = intOption('--to', opts.to, 0, 255, 247);
  if (from > to) throw new CliUsageError('--from', `${from} is after --to ${to}`);
  return { from, to, ...areaAddressOptions(opts) };
}

function progressBar(io: CliIo, total: number): SingleBar | null {
  if (!io.stderr.isTTY) return null;
  const bar = new SingleBar(
    {
      stream: io.stderr as NodeJS.WritableStream,
      format: 'scan |{bar}| {value}/{total} unit ids | unit {unit} | found {found}',
      hideCursor: true,
      clearOnComplete: true,
    },
    Presets.shades_classic,
  );
  bar.start(total, 0, { unit: '-', found: 0 });
  return bar;
}

export async function runScan(opts: ScanOptions, io: CliIo = processIo, signal?: AbortSignal): Promise<number> {
  let link: ModbusLink | undefined;
  let bar: SingleBar | null = null;
  try {
    const req = parseScanRequest(opts);
    const timeoutMs = intOption('--timeout-ms', opts.timeoutMs, 1, 600_000, DEFAULT_SCAN_TIMEOUT_MS);
    const { linkConfig, source } = resolveLinkConfig(opts, timeoutMs);
    link = await openModbusLink(linkConfig);
    bar = progressBar(io, req.to - req.from + 1);
    let found = 0;
    const result = await scanUnits(link, req, {
      signal,
      onUnit: (o, i) => {
        if (o.answer === 'data' || o.answer === 'exception') found++;
        bar?.update(i + 1, { unit: o.unitId, found });
      },
    });
    bar?.stop();
    bar = null;
    if (opts.json) {
      io.stdout.write(`${JSON.stringify({ source, link: linkConfig.id, timeoutMs, ...result }, null, 2)}\n`);
    } else {
      io.stdout.write(`${formatScanSummary(result, source)}\n`);
    }
    return result.stopped && result.stopped !== 'interrupted' ? EXIT_RUNTIME : EXIT_OK;
  } catch (e) {
    bar?.stop();
    return reportCommandError(io, e, (err) =>
      err instanceof LinkDownError ? 'the link could not be reached: check host and port (or the serial port)' : undefined,
    );
  } finally {
    await link?.close().catch(() => undefined);
  }
}

/** The commander action: SIGINT stops the walk and prints what was found so far. */
export async function scanCommand(opts: ScanOptions): Promise<number> {
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    return await runScan(opts, processIo, ac.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
