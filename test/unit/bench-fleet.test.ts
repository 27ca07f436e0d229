/**
 * The fleet bench's own parts (bench/fleet-*.ts, bench/prom-text.ts): the
 * Modbus TCP simulator against modbus-serial's client (an independent peer)
 * and against raw frames cut at every byte boundary; the expected read plan;
 * Prometheus text and histogram quantiles; the slope helper. No timing
 * assertions.
 */
import net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { counterAt, fleetConfig, fleetFlows, plannedReads, pointAddresses } from '../../bench/fleet-layout';
import { slope } from '../../bench/fleet-math';
import { startFleetSim, type FleetSim } from '../../bench/fleet-sim';
import { bucketDelta, histogramQuantile, PromText } from '../../bench/prom-text';

const readFrame = (tid: number, fc: number, addr: number, count: number): Buffer =>
  Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0, 6, 1, fc, addr >> 8, addr & 0xff, count >> 8, count & 0xff]);

/** Send `chunks` one write at a time (each after the previous is flushed); resolve with `expect` bytes of answer. */
function exchange(port: number, chunks: Buffer[], expect: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= expect) {
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', reject);
    sock.on('connect', async () => {
      for (const c of chunks) await new Promise<void>((r) => sock.write(c, () => setImmediate(r)));
    });
  });
}

describe('fleet simulator', () => {
  let sim: FleetSim;
  beforeAll(async () => {
    sim = await startFleetSim({ devices: 3, registers: 256, tickMs: 3_600_000 }); // one tick for the whole test
  });
  afterAll(() => sim.close());

  it('serves each device on its own port to a modbus-serial client, any unit id', async () => {
    expect(new Set(sim.ports).size).toBe(3);
    const c = new ModbusRTU();
    await c.connectTCP('127.0.0.1', { port: sim.ports[2]! });
    c.setID(17);
    c.setTimeout(2000);
    try {
      const hr = await c.readHoldingRegisters(0, 30);
      expect(hr.data).toEqual(Array.from({ length: 30 }, (_, k) => counterAt(2, k, 0)));
      expect((await c.readInputRegisters(200, 56)).data).toHaveLength(56);
      expect((await c.readCoils(0, 256)).data.length).toBeGreaterThanOrEqual(256);
      expect((await c.readDiscreteInputs(250, 6)).data.length).toBeGreaterThanOrEqual(6);
      await expect(c.readHoldingRegisters(250, 7)).rejects.toMatchObject({ modbusCode: 2 });
      await expect(c.readHoldingRegisters(0, 126)).rejects.toMatchObject({ modbusCode: 3 });
      await expect(c.writeRegister(0, 1)).rejects.toMatchObject({ modbusCode: 1 });
    } finally {
      await new Promise<void>((r) => c.close(() => r()));
    }
  });

  it('answers frames split at every byte boundary and several frames in one read, in order', async () => {
    const frames = Buffer.concat([readFrame(1, 3, 0, 2), readFrame(2, 3, 2, 2), readFrame(3, 4, 5, 1), readFrame(4, 1, 3, 9)]);
    const answerBytes = 13 + 13 + 11 + 11;
    const whole = await exchange(sim.ports[0]!, [frames], answerBytes);
    for (let cut = 1; cut < frames.length; cut += 5) {
      const split = await exchange(sim.ports[0]!, [frames.subarray(0, cut), frames.subarray(cut)], answerBytes);
      expect(split.equals(whole)).toBe(true);
    }
    const bytewise = await exchange(
      sim.ports[0]!,
      [...frames].map((b) => Buffer.from([b])),
      answerBytes,
    );
    expect(bytewise.equals(whole)).toBe(true);
    expect(whole.readUInt16BE(0)).toBe(1);
    expect(whole.readUInt16BE(9)).toBe(counterAt(0, 0, 0));
    expect(whole.readUInt16BE(13 + 9)).toBe(counterAt(0, 2, 0));
    expect(whole.readUInt16BE(26)).toBe(3);
  });

  it('drops a connection that sends garbage, and counts it', async () => {
    const before = sim.stats().garbage;
    await new Promise<void>((resolve) => {
      const sock = net.connect(sim.ports[1]!, '127.0.0.1', () => sock.write(Buffer.from([0, 1, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1])));
      sock.on('close', () => resolve());
      sock.on('error', () => undefined);
    });
    expect(sim.stats().garbage).toBe(before + 1);
  });
});

describe('fleet layout', () => {
  it('contiguous: one 30-register read; scattered: 30 registers over 204 addresses, two reads', () => {
    expect(pointAddresses('contiguous')).toEqual(Array.from({ length: 30 }, (_, k) => k));
    const sc = pointAddresses('scattered');
    expect(sc).toHaveLength(30);
    expect(sc[29]! - sc[0]! + 1).toBe(204);
    expect(plannedReads(pointAddresses('contiguous'))).toEqual({ requests: 1, registers: 30 });
    expect(plannedReads(sc)).toEqual({ requests: 2, registers: 120 + 78 });
    expect(plannedReads([0, 20])).toEqual({ requests: 2, registers: 2 });
  });

  it('counters are uint16 and advance 1 … 3 per tick', () => {
    for (let dev = 0; dev < 20; dev++) {
      for (let a = 0; a < 40; a++) {
        const d = (counterAt(dev, a, 11) - counterAt(dev, a, 10) + 65536) % 65536;
        expect(d).toBeGreaterThanOrEqual(1);
        expect(d).toBeLessThanOrEqual(3);
        expect(counterAt(dev, a, 1e6)).toBeLessThan(65536);
      }
    }
  });

  it('config and flows: one link per device, a tariff per point name', () => {
    const cfg = JSON.parse(
      fleetConfig({ devices: 2, pollMs: 1000, layout: 'scattered', ports: [1001, 1002], editor: true, settlement: true }),
    ) as {
      links: Array<{ port: number }>;
      devices: Array<{ points: Array<{ address: number }> }>;
      settlement?: unknown;
    };
    expect(cfg.links.map((l) => l.port)).toEqual([1001, 1002]);
    expect(cfg.devices[1]!.points.map((p) => p.address)).toEqual(pointAddresses('scattered'));
    expect(cfg.settlement).toBeDefined();
    expect(fleetFlows().filter((n) => (n as { type: string }).type === 'm2m-tariff')).toHaveLength(30);
  });
});

describe('Prometheus text and histograms', () => {
  it('sums families by label and reads histogram quantiles as histogram_quantile does', () => {
    const text = [
      '# HELP m2m_core_readings_total x',
      '# TYPE m2m_core_readings_total counter',
      'm2m_core_readings_total 1500',
      'm2m_device_state{device="a",state="ok"} 1',
      'm2m_device_state{device="b",state="ok"} 0',
      'm2m_device_state{device="b \\"q\\"",state="ok"} 1',
      'm2m_ledger_commit_seconds_bucket{le="0.01"} 90',
      'm2m_ledger_commit_seconds_bucket{le="0.05"} 99',
      'm2m_ledger_commit_seconds_bucket{le="0.1"} 100',
      'm2m_ledger_commit_seconds_bucket{le="+Inf"} 100',
    ].join('\n');
    const p = new PromText(text);
    expect(p.value('m2m_core_readings_total')).toBe(1500);
    expect(p.sum('m2m_device_state', { state: 'ok' })).toBe(2);
    const b = p.buckets('m2m_ledger_commit_seconds')!;
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.01 * (50 / 90), 9);
    expect(histogramQuantile(0.99, b)).toBeCloseTo(0.05, 9);
    expect(histogramQuantile(0.995, b)).toBeCloseTo(0.075, 9);
    const start = new Map([
      [0.01, 90],
      [0.05, 99],
      [0.1, 100],
      [Infinity, 100],
    ]);
    expect(histogramQuantile(0.99, bucketDelta(start, b))).toBeNull(); // nothing observed between
    expect(
      histogramQuantile(
        0.99,
        new Map([
          [0.01, 0],
          [Infinity, 5],
        ]),
      ),
    ).toBe(0.01);
    expect(new PromText('x 1').buckets('m2m_ledger_commit_seconds')).toBeNull();
  });

  it('slope: least squares', () => {
    expect(
      slope([
        [0, 1],
        [1, 3],
        [2, 5],
      ]),
    ).toBeCloseTo(2, 12);
    expect(slope([[1, 1]])).toBeNull();
  });
});
