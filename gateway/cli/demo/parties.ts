/**
 * The demo's other two parties (docs/settlement.md, docs/marketplace.md):
 * the waterworks' collector (the payee of purifier-1's water vouchers,
 * `m2m-gateway collect` in process) and the lab's buyer client (paying
 * purifier-1 for hardness readings with its own key, `m2m-gateway buy` in
 * process). Each keeps its own folder beside the gateway's, never inside it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureBuyerToken } from '../../api/buyer-tokens';
import { createLogger } from '../../base/log';
import { writePrivateFileAtomic } from '../../base/private-files';
import { BuyerClient } from '../buy';
import { startCollector, type CollectorHandle } from '../collect';

export interface DemoParties {
  collector: CollectorHandle;
  buyer: BuyerClient | null;
  /** Start the buyer once the gateway serves. */
  startBuyer(gatewayUrl: string): void;
  summary(): string;
  stop(): Promise<void>;
}

/** Before the gateway starts: the payee token for the collector, and the collector itself. */
export async function startParties(root: string, gwDataDir: string, gatewayUrl: string, collectPort: number): Promise<DemoParties> {
  const wwDir = path.join(root, 'waterworks');
  fs.mkdirSync(wwDir, { recursive: true, mode: 0o700 });
  writePrivateFileAtomic(path.join(wwDir, 'gateway.token'), ensureBuyerToken(gwDataDir, 'waterworks', new Date(), 'payee').token);
  const quiet = createLogger('m2m-demo-party', 'error');
  const collector = await startCollector(
    {
      payees: ['waterworks'],
      dataDir: wwDir,
      listen: `127.0.0.1:${collectPort}`,
      gateways: [{ url: gatewayUrl, tokenFile: path.join(wwDir, 'gateway.token'), pollMs: 2000 }],
      payers: {},
      configFile: '',
    },
    quiet,
  );
  const p: DemoParties = {
    collector,
    buyer: null,
    startBuyer(url) {
      const token = ensureBuyerToken(gwDataDir, 'lab-1').token;
      p.buyer = new BuyerClient({ url, account: 'lab-1', token, dir: path.join(root, 'lab-1'), deposit: '5' }, quiet);
      p.buyer.connect();
    },
    summary() {
      const r = collector.store.receivables().find((x) => x.channel === 'purifier-1>waterworks');
      const paid = p.buyer?.vouchers('lab-1>purifier-1').at(-1);
      return `waterworks verified ${r ? `#${r.seq} ${r.amount}` : 'nothing yet'} | lab-1 paid ${paid ? `#${paid.seq} ${paid.amount}` : '0'} for ${p.buyer?.received ?? 0} readings`;
    },
    async stop() {
      p.buyer?.close();
      await collector.stop();
    },
  };
  return p;
}
