/**
 * Simulator child of the daemon bench (bench/daemon.ts): serves the fleet on
 * loopback from modbus-serial ServerTCP register banks (gateway/cli/demo/register-bank.ts),
 * one bank per gateway link, answering every unit id. Every `tickMs` each
 * device's counters advance and its gauges move. It runs in its own process
 * so that the gateway child's CPU figures are the daemon's alone.
 *
 * Protocol (IPC): started with `<devices> <perLink> <tickMs>`; sends
 * { ports } once listening; on 'stats' replies { cpuUs, ticks, uptimeS };
 * on 'stop' closes the banks and exits.
 */
import { freePort } from '../gateway/cli/demo/free-port';
import { RegisterBank } from '../gateway/cli/demo/register-bank';
import { bankCount, energyAt, placeOf, powerAt, voltageAt, waterAt } from './daemon-fleet';

async function main(): Promise<void> {
  const [devices, perLink, tickMs] = process.argv.slice(2).map(Number) as [number, number, number];
  const banks: RegisterBank[] = [];
  const ports: number[] = [];
  for (let b = 0; b < bankCount({ devices, perLink }); b++) {
    const bank = new RegisterBank();
    const port = await freePort();
    await bank.listen('127.0.0.1', port, 255); // 255: answer every unit id (one server stands for a whole bus)
    banks.push(bank);
    ports.push(port);
  }
  let tick = 0;
  const write = (): void => {
    for (let i = 0; i < devices; i++) {
      const p = placeOf(i, perLink);
      const bank = banks[p.bank]!;
      bank.setUint32(bank.holding, p.base, energyAt(i, tick));
      bank.setUint32(bank.holding, p.base + 2, waterAt(i, tick));
      bank.setFloat32(bank.holding, p.base + 4, powerAt(i, tick));
      bank.holding[p.base + 6] = voltageAt(i, tick);
    }
  };
  write();
  const timer = setInterval(() => {
    tick++;
    write();
  }, tickMs);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  process.on('message', (m: unknown) => {
    if (m === 'stats') {
      const c = process.cpuUsage(cpu0);
      process.send?.({ cpuUs: c.user + c.system, ticks: tick, uptimeS: (performance.now() - t0) / 1000 });
    } else if (m === 'stop') {
      clearInterval(timer);
      void Promise.all(banks.map((b) => b.close())).then(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    }
  });
  // Never outlive the bench.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ports });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
