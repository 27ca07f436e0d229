/**
 * `m2m-gateway probe`: read one register (or bit) range once and show every
 * type × word order side by side (probe-table.ts) — the fastest way to map an
 * unknown meter. The link comes from the config (`--link`) or is an ad-hoc
 * Modbus TCP link (`--host/--port`). Exit 0 read, 2 usage/config, 3 the read
 * failed (timeout, Modbus exception with its name, link down) with a hint.
 */
import { WORD_ORDERS } from '../config/schema';
import type { WordOrder } from '../devices/point';
import type { Area, ModbusLink } from '../links/link';
import type { BusQueue } from '../poll/bus-queue';
import { processIo, reportCommandError, type CliIo } from './cli-io';
import { EXIT_OK } from './exit-codes';
import {
  areaAddressOptions,
  intOption,
  listOption,
  modbusErrorHint,
  openModbusLink,
  resolveLinkConfig,
  type AreaAddressOptions,
  type TargetOptions,
} from './modbus-target';
import { formatProbeTable, modiconRegister, PROBE_TYPES, probeReport, type ProbeRange, type ProbeType } from './probe-table';

export const DEFAULT_PROBE_COUNT = 10;

export interface ProbeOptions extends TargetOptions, AreaAddressOptions {
  unit?: string;
  count?: string;
  types?: string;
  orders?: string;
  json?: boolean;
}

export interface ProbeRequest {
  unitId: number;
  area: Area;
  address: number;
  count: number;
}

/** Read the range once (through `queue` when the bus is shared). */
export async function readProbeRange(link: ModbusLink, req: ProbeRequest, queue?: BusQueue): Promise<ProbeRange> {
  const job = async (): Promise<ProbeRange> =>
    req.area === 'coil' || req.area === 'discrete'
      ? { area: req.area, address: req.address, bits: await link.readBits(req.unitId, req.area, req.address, req.count) }
      : { area: req.area, address: req.address, words: Array.from(await link.readRegisters(req.unitId, req.area, req.address, req.count)) };
  return queue ? queue.run(job) : job();
}

/** Options -> request (throws CliUsageError). */
export function parseProbeRequest(opts: ProbeOptions): ProbeRequest {
  const unitId = intOption('--unit', opts.unit, 0, 255, 1);
  const { area, address } = areaAddressOptions(opts);
  const bitArea = area === 'coil' || area === 'discrete';
  const max = Math.min(bitArea ? 2000 : 125, 65536 - address);
  const count = intOption('--count', opts.count, 1, max, Math.min(DEFAULT_PROBE_COUNT, max));
  return { unitId, area, address, count };
}

function rangeText(req: ProbeRequest): string {
  const last = req.address + req.count - 1;
  const what = req.area === 'coil' || req.area === 'discrete' ? 'bits' : 'registers';
  return `${req.area} ${req.address}..${last} (${modiconRegister(req.area, req.address)}..${modiconRegister(req.area, last)}), ${req.count} ${what}`;
}

export async function runProbe(opts: ProbeOptions, io: CliIo = processIo): Promise<number> {
  let req: ProbeRequest | undefined;
  let link: ModbusLink | undefined;
  try {
    req = parseProbeRequest(opts);
    const types = listOption<ProbeType>('--types', opts.types, PROBE_TYPES);
    const orders = listOption<WordOrder>('--orders', opts.orders, WORD_ORDERS);
    const timeoutMs = opts.timeoutMs === undefined ? undefined : intOption('--timeout-ms', opts.timeoutMs, 1, 600_000);
    const { linkConfig, source } = resolveLinkConfig(opts, timeoutMs);
    link = await openModbusLink(linkConfig);
    const range = await readProbeRange(link, req);
    if (opts.json) {
      const report = { source, link: linkConfig.id, unitId: req.unitId, ...probeReport(range, { types, orders }) };
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      io.stdout.write(`probe ${source}, unit ${req.unitId}: ${rangeText(req)}\n${formatProbeTable(range, { types, orders })}\n`);
    }
    return EXIT_OK;
  } catch (e) {
    const ctx = req;
    return reportCommandError(io, e, (err) => (ctx ? modbusErrorHint(err, ctx) : undefined));
  } finally {
    await link?.close().catch(() => undefined);
  }
}

/** The commander action. */
export const probeCommand = (opts: ProbeOptions): Promise<number> => runProbe(opts);
