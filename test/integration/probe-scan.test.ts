/**
 * `m2m-gateway probe` and `scan` in-process (runProbe / runScan with a
 * buffered CliIo) against a real, independent Modbus TCP peer (pymodbus 3.0,
 * test/sim/modbus_server.py): unit 1 holds known values in several word
 * orders, unit 3 has no register 0 (answers exception 2), unit 2 is a dead
 * unit behind a gateway (exception 11), every other unit id is silent.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import net from 'node:net';
import { bufferIo } from '../../gateway/cli/cli-io';
import { EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME } from '../../gateway/cli/exit-codes';
import { runProbe, type ProbeOptions } from '../../gateway/cli/probe';
import { runScan, type ScanOptions, type ScanResult } from '../../gateway/cli/scan';
import { startModbusPeer, type ModbusPeer } from '../sim/modbus-peer';

jest.setTimeout(60_000);

function wordsOfFloat32(x: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return [b.readUInt16BE(0), b.readUInt16BE(2)];
}

const F = wordsOfFloat32(230.4); // float32 ABCD at holding 0
const U32_CDAB = [0x5678, 0x1234]; // uint32 0x12345678 word-swapped at holding 2
const SUNS = [0x5375, 0x6e53]; // 'SunS' at holding 4
const MINUS_5 = 0xfffb; // int16 -5 at holding 6

let peer: ModbusPeer;
let dir: string;
let configFile: string;

beforeAll(async () => {
  peer = await startModbusPeer({
    units: {
      1: {
        holding: { 0: [...F, ...U32_CDAB, ...SUNS, MINUS_5] },
        input: { 10: [0x04d2, 0x162e] },
        coil: { 0: [true, false, true] },
      },
      3: { sparse: true, holding: { 5: [42] } },
    },
    deadUnits: [2],
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-probe-'));
  configFile = path.join(dir, 'm2m-gateway.yaml');
  fs.writeFileSync(
    configFile,
    `version: 1
gateway: { id: gw, timezone: UTC }
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${peer.port}, timeoutMs: 1500 }
  - { id: p1, type: dsmr-p1, path: /dev/null-p1 }
`,
  );
});

afterAll(async () => {
  await peer?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function probe(opts: ProbeOptions) {
  const io = bufferIo();
  const code = await runProbe(opts, io);
  return { code, out: io.out(), err: io.err() };
}

async function scan(opts: ScanOptions, signal?: AbortSignal) {
  const io = bufferIo();
  const code = await runScan(opts, io, signal);
  return { code, out: io.out(), err: io.err() };
}

const adhoc = () => ({ host: '127.0.0.1', port: String(peer.port) });

describe('probe', () => {
  test('--json: every type and word order of the range, the known values where they sit', async () => {
    const r = await probe({ ...adhoc(), unit: '1', area: 'holding', address: '0', count: '7', json: true });
    expect(r.err).toBe('');
    expect(r.code).toBe(EXIT_OK);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ unitId: 1, area: 'holding', address: 0, count: 7, words: [...F, ...U32_CDAB, ...SUNS, MINUS_5] });
    expect(j.columns).toHaveLength(26);
    expect(j.rows).toHaveLength(7);
    expect(j.rows[0].values['float32 ABCD']).toBe('230.4');
    expect(j.rows[2].values['uint32 CDAB']).toBe(String(0x12345678));
    expect(j.rows[2].values['uint32 ABCD']).toBe(String(0x56781234));
    expect(j.rows[4].ascii + j.rows[5].ascii).toBe('SunS');
    expect(j.rows[6].values.int16).toBe('-5');
    expect(j.rows[6].values.uint16).toBe('65531');
    expect(j.rows[6].values['uint32 ABCD']).toBeNull();
    expect(j.rows[3].values['uint64 ABCD']).toBe(String((0x1234n << 48n) | (0x5375n << 32n) | (0x6e53n << 16n) | 0xfffbn));
    expect(j.rows[4].values['uint64 ABCD']).toBeNull();
  });

  test('text: one table, with the Modicon form --register', async () => {
    const r = await probe({ ...adhoc(), unit: '1', register: '30011', count: '2', types: 'uint16,uint32', orders: 'ABCD' });
    expect(r.code).toBe(EXIT_OK);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`probe modbus-tcp 127.0.0.1:${peer.port}, unit 1: input 10..11 (30011..30012), 2 registers`);
    expect(lines[1].split(/\s{2,}/)).toEqual(['offset', 'address', 'register', 'hex', 'ascii', 'uint16', 'uint32 ABCD']);
    expect(lines[2].trim().split(/\s+/)).toEqual(['0', '10', '30011', '04D2', '..', '1234', String(0x04d2162e)]);
    expect(lines[3].trim().split(/\s+/)).toEqual(['1', '11', '30012', '162E', '..', '5678']);
    expect(lines).toHaveLength(4);
  });

  test('bits', async () => {
    const r = await probe({ ...adhoc(), unit: '1', area: 'coil', count: '3', json: true });
    expect(r.code).toBe(EXIT_OK);
    expect(JSON.parse(r.out)).toMatchObject({ area: 'coil', bits: [true, false, true], columns: [] });
  });

  test('through a link of the config (--config --link), and its only Modbus link without --link', async () => {
    const a = await probe({ config: configFile, link: 'plant', unit: '1', count: '2', json: true });
    expect(a.code).toBe(EXIT_OK);
    expect(JSON.parse(a.out)).toMatchObject({ link: 'plant', source: 'link plant (modbus-tcp)', words: F });
    const b = await probe({ config: configFile, unit: '1', count: '2', json: true });
    expect(b.code).toBe(EXIT_OK);
    expect(JSON.parse(b.out).link).toBe('plant');
  });

  test('a Modbus exception: exit 3, named, with a hint', async () => {
    const r = await probe({ ...adhoc(), unit: '3', count: '2' });
    expect(r.code).toBe(EXIT_RUNTIME);
    expect(r.out).toBe('');
    expect(r.err).toMatch(
      /^error GW_ERR_MODBUS_EXCEPTION: .*Modbus exception 2 \(illegal data address\)\nhint: the range is not \(all\) in the device's map/,
    );
  });

  test('a gateway exception for an absent unit: exit 3, points at scan', async () => {
    const r = await probe({ ...adhoc(), unit: '2' });
    expect(r.code).toBe(EXIT_RUNTIME);
    expect(r.err).toMatch(/Modbus exception 11 \(gateway target device failed to respond\)\nhint: .*m2m-gateway scan/);
  });

  test('a timeout: exit 3, with the timeout asked for', async () => {
    const r = await probe({ ...adhoc(), unit: '9', timeoutMs: '150' });
    expect(r.code).toBe(EXIT_RUNTIME);
    expect(r.err).toMatch(/^error GW_ERR_MODBUS_TIMEOUT: .*unit 9: no answer within 150 ms\nhint: nothing answered as unit 9/);
  });

  test('nothing listening: exit 3, link down', async () => {
    const srv = net.createServer();
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((res) => srv.close(() => res()));
    const r = await probe({ host: '127.0.0.1', port: String(port) });
    expect(r.code).toBe(EXIT_RUNTIME);
    expect(r.err).toMatch(/^error GW_ERR_LINK_DOWN: .*ECONNREFUSED/);
  });

  test.each<[string, ProbeOptions, RegExp]>([
    ['a count beyond one request', { count: '126' }, /--count: must be 1\.\.125, got 126/],
    ['--register with --area', { register: '40001', area: 'input' }, /either --register or --area/],
    ['a bad area', { area: 'flash' }, /--area: expected one of holding, input, coil, discrete/],
    ['a bad unit', { unit: 'x' }, /--unit: expected an integer, got "x"/],
    ['an unknown type column', { types: 'float16' }, /--types: unknown "float16"/],
  ])('usage error (%s): exit 2 before touching the bus', async (_what, opts, message) => {
    const r = await probe({ ...adhoc(), ...opts });
    expect(r.code).toBe(EXIT_CONFIG);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/run with --help/);
  });

  test.each<[string, ProbeOptions, RegExp]>([
    ['a link that is not in the config', { link: 'nope' }, /--link: no link "nope" in .* \(links: plant, p1\)/],
    ['a dsmr-p1 link', { link: 'p1' }, /link "p1" is a dsmr-p1 link; this command needs a Modbus link/],
    ['--link and --host together', { link: 'plant', host: '127.0.0.1' }, /either --link .* or --host/],
  ])('link choice error (%s): exit 2', async (_what, opts, message) => {
    const r = await probe({ config: configFile, ...opts });
    expect(r.code).toBe(EXIT_CONFIG);
    expect(r.err).toMatch(message);
  });

  test('no config and no --host: exit 2 saying what to give', async () => {
    const r = await probe({ config: path.join(dir, 'absent.yaml') });
    expect(r.code).toBe(EXIT_CONFIG);
    expect(r.err).toMatch(/give --host H \[--port P\] .* or --config FILE/);
  });

  test('an invalid config: exit 2 with its issues by path', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'version: 1\nlinks:\n  - { id: plant, type: modbus-tcp }\n');
    const r = await probe({ config: bad, link: 'plant' });
    expect(r.code).toBe(EXIT_CONFIG);
    expect(r.err).toMatch(/^config error .*\nlinks\[0\]\.host: /);
  });
});

describe('scan', () => {
  test('finds exactly units 1 (data) and 3 (exception 2); the dead unit 2 and silent unit 4 are not found', async () => {
    const r = await scan({ ...adhoc(), from: '1', to: '4', timeoutMs: '200', json: true });
    expect(r.code).toBe(EXIT_OK);
    expect(r.err).toBe(''); // stderr is not a TTY: no progress bar
    const j = JSON.parse(r.out) as ScanResult & { timeoutMs: number };
    expect(j.found.map((f) => f.unitId)).toEqual([1, 3]);
    expect(j.found).toEqual([
      { unitId: 1, answer: 'data', words: [F[0]] },
      { unitId: 3, answer: 'exception', exceptionCode: 2, exceptionName: 'illegal data address' },
    ]);
    expect(j.gatewayExceptions).toEqual([{ unitId: 2, exceptionCode: 11, exceptionName: 'gateway target device failed to respond' }]);
    expect(j.silent).toEqual([4]);
    expect(j).toMatchObject({ from: 1, to: 4, scanned: 4, area: 'holding', address: 0, timeoutMs: 200, garbled: [] });
    expect(j.stopped).toBeUndefined();
  });

  test('text summary through the config link, reading another register', async () => {
    const r = await scan({ config: configFile, link: 'plant', from: '1', to: '4', register: '30011', timeoutMs: '200' });
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toBe(
      [
        'scan link plant (modbus-tcp): unit ids 1..4, input 10; 4 scanned',
        '2 units answered:',
        '  unit    1  data: 1234 (0x04D2)',
        '  unit    3  exception 2 (illegal data address)',
        'gateway exception 11 (gateway target device failed to respond), no device behind it: 2',
        'no answer: 4',
        '',
      ].join('\n'),
    );
  });

  test('an interrupted scan reports what it had so far', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await scan({ ...adhoc(), from: '1', to: '247', json: true }, ac.signal);
    expect(r.code).toBe(EXIT_OK);
    expect(JSON.parse(r.out)).toMatchObject({ scanned: 0, found: [], stopped: 'interrupted' });
  });

  test('usage errors: exit 2', async () => {
    expect((await scan({ ...adhoc(), from: '10', to: '2' })).err).toMatch(/--from: 10 is after --to 2/);
    const r = await scan({ ...adhoc(), to: '300' });
    expect(r.code).toBe(EXIT_CONFIG);
    expect(r.err).toMatch(/--to: must be 0\.\.255, got 300/);
  });
});
