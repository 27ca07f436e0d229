/**
 * DSMR P1 end to end through the REAL built daemon
 * (`node build/gateway/cli/main.js start --config …`): a socat pty pair stands
 * in for the meter's P1 port, the daemon reads one end through a `dsmr-p1`
 * link with a `profile: dsmr-5` device, the test writes DSMR 5 telegrams (valid
 * CRC16/ARC, meter time increasing, gas with its own M-Bus timestamp that moves
 * only every third telegram) into the other end, mixed with noise, a truncated
 * telegram and bad-CRC telegrams carrying absurd values.
 *
 *  - /api/ledger equals an independent BigInt computation to the nano-unit
 *    (the first telegram is the baseline; kWh and m³ in micro-units);
 *  - the bad and truncated telegrams never show (not in /api/devices, not in
 *    the ledger); /api/devices shows the meter `ok`, values as decimal strings,
 *    gas `at` = its own M-Bus timestamp;
 *  - a gas reading repeated with the same M-Bus timestamp bills nothing twice
 *    and leaves no event storm behind;
 *  - socat killed -> the device is `offline`; socat back on the same paths ->
 *    telegrams flow again and billing resumes exactly, the daemon untouched;
 *  - SIGTERM exits 0 and `ledger verify` exits 0.
 *
 * The build is a precondition (`npm test` builds first).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CounterOracle, canonical, format } from '../helper/billing-oracle';
import { GatewayProcess, killAllProcesses, requireBuild, runCli, waitFor } from '../helper/daemon-process';
import { ApiClient, byKey, waitForLedger, waitForPoint, type DeviceView, type LedgerRow } from '../helper/gateway-api';
import { buildTelegram, P1Writer, startPtyPair, type PtyPair } from '../sim/p1-writer';

jest.setTimeout(40_000);

const CURRENCY = 'EUR';
const DEVICE = 'meter-p1';
const PRICES = { import_t1: '0.251234567', import_t2: '0.187654321', gas: '1.234567891' } as const;

// ---------------------------------------------------------------------------
// The meter: its state and its telegrams (all quantities in thousandths, as the meter prints them)

interface MeterState {
  /** Meter time, UTC epoch ms (printed in CET with the 'W' flag). */
  atMs: number;
  t1Wh: bigint;
  t2Wh: bigint;
  exportWh: bigint;
  powerW: bigint;
  /** Gas: litres (m³ × 1000) and the M-Bus timestamp of that value. */
  gasL: bigint;
  gasAtMs: number;
}

const FIVE_MIN = 300_000;
const STEP_MS = 100_000; // meter time per telegram: gas (5-minute values) moves every third telegram

/** UTC epoch ms -> 'YYMMDDhhmmssW' (CET = UTC+1, winter). */
function p1Time(utcMs: number): string {
  const d = new Date(utcMs + 3_600_000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCFullYear() % 100)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}W`;
}

/** 1234567n thousandths -> '001234.567' (intDigits integer digits). */
function milli(v: bigint, intDigits: number): string {
  const s = v.toString().padStart(intDigits + 3, '0');
  return `${s.slice(0, -3)}.${s.slice(-3)}`;
}

/** Thousandths -> the canonical decimal string the API should show. */
const dec = (v: bigint): string => canonical(format(v, 3));

function telegramLines(m: MeterState, tariff: '0001' | '0002'): string[] {
  return [
    '/ISk5\\2MT382-1000',
    '',
    '1-3:0.2.8(50)',
    `0-0:1.0.0(${p1Time(m.atMs)})`,
    '0-0:96.1.1(4B384547303034303436333935353037)',
    `1-0:1.8.1(${milli(m.t1Wh, 6)}*kWh)`,
    `1-0:1.8.2(${milli(m.t2Wh, 6)}*kWh)`,
    `1-0:2.8.1(${milli(m.exportWh, 6)}*kWh)`,
    '1-0:2.8.2(000000.000*kWh)',
    `0-0:96.14.0(${tariff})`,
    `1-0:1.7.0(${milli(m.powerW, 2)}*kW)`,
    '1-0:2.7.0(00.000*kW)',
    '0-0:96.7.21(00004)',
    '0-0:96.7.9(00002)',
    '1-0:99.97.0(0)(0-0:96.7.19)',
    '1-0:32.7.0(230.1*V)',
    '1-0:31.7.0(002*A)',
    '0-1:24.1.0(003)',
    '0-1:96.1.0(3232323241424344313233343536373839)',
    `0-1:24.2.1(${p1Time(m.gasAtMs)})(${milli(m.gasL, 5)}*m3)`,
  ];
}

const ABSURD: MeterState = {
  atMs: 0,
  t1Wh: 999_999_999n,
  t2Wh: 999_999_998n,
  exportWh: 999_999_997n,
  powerW: 99_999n,
  gasL: 99_999_999n,
  gasAtMs: 0,
};

/** A telegram whose CRC line is valid hex but wrong. */
function badCrcTelegram(m: MeterState): string {
  const good = buildTelegram(telegramLines(m, '0001'));
  const bang = good.lastIndexOf('!');
  const crc = good.slice(bang + 1, bang + 5);
  const wrong = ((parseInt(crc, 16) ^ 0x0101) & 0xffff).toString(16).toUpperCase().padStart(4, '0');
  return `${good.slice(0, bang + 1)}${wrong}\r\n`;
}

/** Line noise: binary junk, a stray '!', CRLFs, text that is no telegram. */
const NOISE = Buffer.concat([
  Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x80, 0x21, 0x0d, 0x0a, 0x7f, 0x1b, 0x5b]),
  Buffer.from('XXXX 1-0:1.8.1(777777.777*kWh) not a frame !ABCD\r\n', 'latin1'),
]);

// ---------------------------------------------------------------------------

function writeFile(file: string, text: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function tariff(id: string, point: string, payee: string, price: string) {
  return {
    id,
    type: 'm2m-tariff',
    z: 'dsmr-tab',
    name: `${point} price`,
    devices: 'meter-*',
    point,
    payee,
    price,
    tou: [],
    x: 100,
    y: 100,
    wires: [],
  };
}

let root = '';
let pair: PtyPair | null = null;
let writer: P1Writer | null = null;
let daemon: GatewayProcess | null = null;

beforeAll(() => {
  requireBuild();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-dsmr-e2e-'));
});

afterAll(async () => {
  await writer?.close();
  await killAllProcesses();
  await pair?.dispose().catch(() => undefined);
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('DSMR P1 meter through the real daemon', () => {
  const config = () => path.join(root, 'm2m-gateway.yaml');
  let api: ApiClient;

  const t1 = new CounterOracle(DEVICE, 'import_t1', DEVICE, 'grid', 64, '0.001', PRICES.import_t1);
  const t2 = new CounterOracle(DEVICE, 'import_t2', DEVICE, 'grid', 64, '0.001', PRICES.import_t2);
  const gas = new CounterOracle(DEVICE, 'gas', DEVICE, 'gasco', 64, '0.001', PRICES.gas);
  const exp = new CounterOracle(DEVICE, 'export_t1', DEVICE, '', 64, '0.001', '0'); // metered, not priced
  let gasLastAt: number | null = null;
  const expected = (): LedgerRow[] =>
    [t1.row(CURRENCY), t2.row(CURRENCY), gas.row(CURRENCY), exp.row(CURRENCY)].filter((r) => r.quantity !== '0.000000');

  // Meter time starts 2026-01-15 10:00:00 CET, on a 5-minute boundary.
  const meter: MeterState = {
    atMs: Date.UTC(2026, 0, 15, 9, 0, 0),
    t1Wh: 1_234_567n,
    t2Wh: 7_654_321n,
    exportWh: 4_000n,
    powerW: 1_193n,
    gasL: 12_785_123n,
    gasAtMs: Date.UTC(2026, 0, 15, 9, 0, 0),
  };
  let n = 0;

  /** Advance the meter by one telegram period; gas moves only when a new 5-minute value is due. */
  function advance(): void {
    n += 1;
    meter.atMs += STEP_MS;
    // Low tariff (t1) at odd steps, normal (t2) at even ones, with different consumption.
    if (n % 2 === 1) meter.t1Wh += BigInt(17 + (n % 5) * 3);
    else meter.t2Wh += BigInt(29 + (n % 7) * 11);
    if (n % 4 === 0) meter.exportWh += 3n;
    meter.powerW = BigInt(200 + ((n * 37) % 900));
    const gasAt = Math.floor(meter.atMs / FIVE_MIN) * FIVE_MIN;
    if (gasAt !== meter.gasAtMs) {
      meter.gasAtMs = gasAt;
      meter.gasL += BigInt(41 + (n % 3) * 7);
    }
  }

  /** A valid telegram of the current meter state; the oracle learns what the daemon must bill. */
  function validTelegram(): string {
    t1.read(meter.t1Wh);
    t2.read(meter.t2Wh);
    exp.read(meter.exportWh);
    // The core meters a gas value once per M-Bus timestamp (a repeat has the same value anyway).
    if (gasLastAt !== meter.gasAtMs) gas.read(meter.gasL);
    gasLastAt = meter.gasAtMs;
    return buildTelegram(telegramLines(meter, n % 2 === 1 ? '0001' : '0002'));
  }

  /** Every value the daemon shows for the meter must be the current meter state's. */
  async function expectDevicesShowMeter(): Promise<DeviceView> {
    const view = (await api.get<DeviceView[]>('/api/devices')).find((d) => d.id === DEVICE)!;
    const telegramAt = new Date(meter.atMs).toISOString();
    expect(view).toMatchObject({ id: DEVICE, link: 'p1', state: 'ok' });
    for (const p of Object.values(view.points)) expect(typeof p.value).toBe('string');
    const shown = Object.fromEntries(
      Object.entries(view.points).map(([k, p]) => [k, { value: canonical(p.value as string), unit: p.unit, at: p.at }]),
    );
    expect(shown).toEqual({
      import_t1: { value: dec(meter.t1Wh), unit: 'kWh', at: telegramAt },
      import_t2: { value: dec(meter.t2Wh), unit: 'kWh', at: telegramAt },
      export_t1: { value: dec(meter.exportWh), unit: 'kWh', at: telegramAt },
      export_t2: { value: '0', unit: 'kWh', at: telegramAt },
      power_import: { value: dec(meter.powerW), unit: 'kW', at: telegramAt },
      power_export: { value: '0', unit: 'kW', at: telegramAt },
      // Gas is timed by its own M-Bus timestamp, not by the telegram's.
      gas: { value: dec(meter.gasL), unit: 'm3', at: new Date(meter.gasAtMs).toISOString() },
    });
    expect(view.lastReadAt).toBe(telegramAt);
    return view;
  }

  /** Wait until the daemon has taken the latest valid telegram (power changes with every one). */
  async function waitForTelegram(): Promise<void> {
    await waitForPoint(api, DEVICE, 'import_t1', dec(meter.t1Wh));
    await waitForPoint(api, DEVICE, 'import_t2', dec(meter.t2Wh));
    await waitForPoint(api, DEVICE, 'power_import', dec(meter.powerW));
  }

  beforeAll(async () => {
    pair = await startPtyPair();
    writeFile(
      config(),
      `# written by test/integration/dsmr-daemon-e2e.test.ts
version: 1
gateway:
  id: dsmr-e2e
  dataDir: ./data
  currency: ${CURRENCY}
  timezone: Europe/Amsterdam
http:
  listen: 127.0.0.1:0
links:
  - { id: p1, type: dsmr-p1, path: ${pair.b}, baudRate: 115200 }
devices:
  - id: ${DEVICE}
    link: p1
    profile: dsmr-5
`,
    );
    writeFile(
      path.join(root, 'data', 'flows.json'),
      JSON.stringify([
        { id: 'dsmr-tab', type: 'tab', label: 'dsmr', disabled: false, info: '' },
        tariff('t-t1', 'import_t1', 'grid', PRICES.import_t1),
        tariff('t-t2', 'import_t2', 'grid', PRICES.import_t2),
        tariff('t-gas', 'gas', 'gasco', PRICES.gas),
      ]),
    );
    daemon = await GatewayProcess.start(['start', '--config', config()]);
    const token = (await runCli(['token', '--config', config()])).stdout.trim();
    api = new ApiClient(daemon.url, token);
    writer = await P1Writer.open(pair.a);
    // The link opens the port right after the API is up.
    await waitFor(
      async () =>
        (await api.get<{ links: Array<{ id: string; state: string }> }>('/api/health')).links[0]?.state === 'up' ? true : undefined,
      'link p1 up',
      10_000,
    );
  });

  test('telegrams between noise, a truncated and bad-CRC telegrams: ledger equals the BigInt oracle, bad values never show', async () => {
    // Noise before anything, then the baseline telegram.
    await writer!.write(NOISE);
    await writer!.write(validTelegram());
    await waitForTelegram();
    await expectDevicesShowMeter();
    await waitForLedger(api, []); // a baseline bills nothing

    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 3; i++) {
        advance();
        await writer!.write(validTelegram());
        await writer!.write(NOISE);
      }
      // A telegram cut off mid-line (the next '/' ends it) with absurd values.
      const cut = buildTelegram(telegramLines({ ...ABSURD, atMs: meter.atMs + 1_000, gasAtMs: meter.gasAtMs + 1_000 }, '0001'));
      await writer!.write(cut.slice(0, Math.floor(cut.length * (0.3 + round * 0.15))));
      advance();
      await writer!.write(validTelegram());
      // A complete telegram with absurd values and a wrong CRC, then a good one.
      await writer!.write(badCrcTelegram({ ...ABSURD, atMs: meter.atMs + 1_000, gasAtMs: meter.gasAtMs + 1_000 }));
      advance();
      await writer!.write(validTelegram());
      await waitForTelegram();
      await expectDevicesShowMeter();
    }
    expect(gas.qtyMicro).toBeGreaterThan(0n);
    const rows = await waitForLedger(api, expected());
    expect(rows).toEqual(expected().sort(byKey));
    expect(rows.map((r) => r.payee).sort()).toEqual(['', 'gasco', 'grid', 'grid']);
    await expectDevicesShowMeter();
    // Nothing of the absurd telegrams made it: no reset, hold or rollover was ever seen.
    const events = await api.get<Array<{ kind: string }>>(`/api/events?device=${DEVICE}&limit=1000`);
    expect(events.filter((e) => ['reset', 'held', 'rollover', 'overflow'].includes(e.kind))).toEqual([]);
  });

  test('a gas value repeated with the same M-Bus timestamp bills nothing twice and leaves no event storm', async () => {
    type EventRow = { id: string; kind: string; point?: string; data?: Record<string, unknown> };
    const eventsSince = async (lastId: number): Promise<EventRow[]> =>
      (await api.get<EventRow[]>(`/api/events?device=${DEVICE}&limit=1000`)).filter((e) => Number(e.id) > lastId);
    const lastEventId = async (): Promise<number> =>
      Math.max(0, ...(await api.get<EventRow[]>('/api/events?limit=1000')).map((e) => Number(e.id)));

    // Twenty telegrams 10 s apart in meter time: electricity moves, gas repeats its 5-minute value.
    const mark = await lastEventId();
    const gasAt = meter.gasAtMs;
    const gasRow = gas.row(CURRENCY);
    for (let i = 0; i < 20; i++) {
      meter.atMs += 10_000;
      meter.t1Wh += 5n;
      meter.powerW += 1n;
      await writer!.write(validTelegram());
    }
    expect(meter.gasAtMs).toBe(gasAt);
    await waitForTelegram();
    const rows = await waitForLedger(api, expected());
    expect(rows.find((r) => r.point === 'gas')).toEqual(gasRow);
    await expectDevicesShowMeter();
    // The repeats are not new readings: no event per telegram ('ignored' or any other).
    expect(await eventsSince(mark)).toEqual([]);

    // A glitch: the same M-Bus timestamp with another value. The core ignores it (one event), bills nothing.
    meter.atMs += 10_000;
    meter.powerW += 1n;
    const glitch = { ...meter, gasL: meter.gasL + 500n };
    await writer!.write(buildTelegram(telegramLines(glitch, '0001')));
    await waitForPoint(api, DEVICE, 'gas', dec(glitch.gasL));
    await waitFor(async () => ((await eventsSince(mark)).length > 0 ? true : undefined), 'the ignored gas reading committed', 10_000);
    expect((await eventsSince(mark)).map((e) => [e.kind, e.point])).toEqual([['ignored', 'gas']]);
    expect((await waitForLedger(api, expected())).find((r) => r.point === 'gas')).toEqual(gasRow);
    // The next real gas value (a new timestamp) bills from the last accepted one: the test's oracle never saw the glitch.
    advance();
    advance();
    advance();
    await writer!.write(validTelegram());
    expect(meter.gasAtMs).toBeGreaterThan(gasAt);
    await waitForTelegram();
    await waitForPoint(api, DEVICE, 'gas', dec(meter.gasL));
    expect(await waitForLedger(api, expected())).toEqual(expected().sort(byKey));
    await expectDevicesShowMeter();
  });

  test('socat killed: the meter goes offline; socat back on the same paths: telegrams flow and billing resumes exactly', async () => {
    await writer!.close();
    writer = null;
    await pair!.stop();
    await waitFor(
      async () => ((await api.get<DeviceView[]>('/api/devices')).find((d) => d.id === DEVICE)?.state === 'offline' ? true : undefined),
      `${DEVICE} offline after the port vanished`,
      10_000,
    );
    const health = await api.get<{ links: Array<{ id: string; state: string }> }>('/api/health');
    expect(health.links.find((l) => l.id === 'p1')?.state).not.toBe('up');

    // The meter kept counting while unplugged.
    for (let i = 0; i < 4; i++) advance();

    await pair!.start();
    writer = await P1Writer.open(pair!.a);
    await waitFor(
      async () =>
        (await api.get<{ links: Array<{ id: string; state: string }> }>('/api/health')).links.find((l) => l.id === 'p1')?.state === 'up'
          ? true
          : undefined,
      'link p1 up again after socat came back',
      15_000,
    );
    await writer.write(NOISE);
    await writer.write(validTelegram());
    await waitForTelegram();
    await expectDevicesShowMeter();
    await waitForLedger(api, expected());
    for (let i = 0; i < 5; i++) {
      advance();
      await writer.write(validTelegram());
      if (i === 2) await writer.write(badCrcTelegram({ ...ABSURD, atMs: meter.atMs + 1_000, gasAtMs: meter.gasAtMs + 1_000 }));
    }
    await waitForTelegram();
    const rows = await waitForLedger(api, expected());
    expect(rows).toEqual(expected().sort(byKey));
    await expectDevicesShowMeter();
    const channels = await api.get<Array<{ id: string; accrued: string }>>('/api/channels');
    expect(Object.fromEntries(channels.map((c) => [c.id, c.accrued]))).toEqual({
      [`${DEVICE}>grid`]: format(t1.amountNano + t2.amountNano, 9),
      [`${DEVICE}>gasco`]: format(gas.amountNano, 9),
    });
    expect(daemon!.running).toBe(true);
  });

  test('SIGTERM: exit 0, no error logged, `ledger verify` exits 0', async () => {
    expect(await daemon!.stop('SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
    expect(daemon!.logLines().filter((l) => Number(l.level) >= 50)).toEqual([]);
    const verify = await runCli(['ledger', 'verify', '--config', config()]);
    expect({ code: verify.code, out: verify.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^ledger OK/) });
  });
});
