/**
 * An in-process Gateway for integration tests: a temp data dir with the
 * test's flows.json, a simulated Modbus device (RegisterBank) on a free
 * loopback port, the test's YAML config parsed against that dir, and
 * `Gateway.start` with the BigInt reference core, the API on 127.0.0.1:0 and
 * a 20 ms metering flush and ledger commit cadence. `stop()` tears it all down (gateway, device, dir).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../gateway/config/load';
import { Gateway, type GatewayOptions } from '../../gateway/daemon/gateway';
import { ReferenceCore } from '../../gateway/core/reference';
import { silentLogger } from '../../gateway/base/log';
import { freePort } from '../../gateway/cli/demo/free-port';
import { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { waitFor } from './daemon-process';

/** `until(cond, what, ms?)`: waitFor with a boolean condition (waitFor takes `undefined` as 'not yet'). */
export const untilWithin =
  (defaultMs: number) =>
  (cond: () => boolean | Promise<boolean>, what: string, ms = defaultMs): Promise<true> =>
    waitFor(async () => ((await cond()) ? true : undefined), what, ms);

/** Wait until `cond()` holds (default 10 s). */
export const until = untilWithin(10_000);

export interface TestGatewaySpec {
  /** Prefix of the temp data dir, e.g. 'm2m-ctl-'. */
  prefix: string;
  /** The policy flows written to `<dir>/flows.json`. */
  flows: unknown;
  /** Set the simulated device's registers before it listens (the first poll sees them). */
  registers?: (bank: RegisterBank) => void;
  /** The config YAML; `port` is the simulated device's (unit 1 on 127.0.0.1), `dir` the data dir. */
  yaml: (at: { port: number; dir: string }) => string;
  /** Options over the defaults (core: ReferenceCore, http 127.0.0.1:0, flushMs 20, commitMs 20). */
  options?: GatewayOptions;
  /** Runs once the dir and the device exist, before the gateway starts (e.g. to write buyer tokens). */
  beforeStart?: (dir: string) => void | Promise<void>;
}

export interface TestGateway {
  /** The running gateway (null after a test stopped it and before `startGateway`). */
  gw: Gateway | null;
  bank: RegisterBank;
  dir: string;
  port: number;
  /** The config the gateway was last started with. */
  cfg: ReturnType<typeof parseConfig>;
  /** Start a gateway again on the same dir and config text (after the test stopped the previous one). */
  startGateway(): Promise<Gateway>;
  /** Stop the gateway, close the device, remove the dir. */
  stop(): Promise<void>;
}

export async function startTestGateway(spec: TestGatewaySpec): Promise<TestGateway> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), spec.prefix));
  const bank = new RegisterBank();
  const t: TestGateway = {
    gw: null,
    bank,
    dir,
    port: 0,
    cfg: undefined as unknown as TestGateway['cfg'],
    async startGateway() {
      t.cfg = parseConfig(spec.yaml({ port: t.port, dir }), dir);
      t.gw = await Gateway.start(t.cfg, silentLogger(), {
        core: new ReferenceCore(),
        http: { host: '127.0.0.1', port: 0 },
        flushMs: 20,
        commitMs: 20,
        ...spec.options,
      });
      return t.gw;
    },
    async stop() {
      await t.gw?.stop();
      await t.bank.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    fs.writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(spec.flows));
    spec.registers?.(bank);
    t.port = await freePort();
    await bank.listen('127.0.0.1', t.port, 1);
    await spec.beforeStart?.(dir);
    await t.startGateway();
  } catch (e) {
    await t.stop().catch(() => undefined);
    throw e;
  }
  return t;
}
