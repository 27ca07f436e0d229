/**
 * `m2m-gateway buy`: the reference data-buyer client (docs/marketplace.md).
 * Connects to a seller gateway's /api/stream with the buyer's token,
 * receives the readings offered to it (printed as JSON lines on stdout),
 * and pays for them with cumulative vouchers signed by ITS OWN key, kept in
 * its own folder (`<dir>/keys/<account>.key`, 0600; the seller never sees
 * it). It pays what each `bill` says was delivered, never more than the
 * channel's deposit (`--deposit`, which it sets on the channel), and keeps
 * every voucher it signed in `<dir>/vouchers.json` so that after a
 * reconnect it re-sends, never re-signs, a seq the seller did not take yet.
 * A voucher's `ledgerHead` is the head of the buyer's own hash chain over
 * the readings it received (sha256(prev ‖ canonical reading)).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { createLogger, type Logger } from '../base/log';
import { formatMoney, parseDecimal, MONEY_FRAC } from '../base/decimal';
import { ensurePrivateDir, writePrivateFileAtomic } from '../base/private-files';
import type { BillView } from '../events';
import { canonicalJson } from '../settle/canonical-json';
import { KeyStore } from '../settle/keys';
import { signVoucher, type SignedVoucher } from '../settle/voucher';
import { untilSignal } from './start';

export interface BuyOptions {
  url: string;
  account: string;
  token?: string;
  tokenFile?: string;
  dir: string;
  deposit?: string;
  devices?: string;
  /** Exit after this many readings (default: run until a signal). */
  readings?: string;
  quiet?: boolean;
}

interface BuyerState {
  head: string;
  vouchers: Record<string, SignedVoucher[]>;
}

const GENESIS = '0'.repeat(64);

export class BuyerClient {
  private ws: WebSocket | null = null;
  private state: BuyerState;
  private readonly stateFile: string;
  private readonly keys: KeyStore;
  readonly depositNano: bigint;
  received = 0;
  private closing = false;
  private reconnect: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: { url: string; account: string; token: string; dir: string; deposit: string; devices?: string[] },
    private readonly log: Logger,
    private readonly onReading: (m: Record<string, unknown>) => void = () => undefined,
  ) {
    ensurePrivateDir(o.dir);
    this.keys = new KeyStore(path.join(o.dir, 'keys'), log);
    this.stateFile = path.join(o.dir, 'vouchers.json');
    this.state = fs.existsSync(this.stateFile)
      ? (JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as BuyerState)
      : { head: GENESIS, vouchers: {} };
    this.depositNano = parseDecimal(o.deposit, MONEY_FRAC);
  }

  get publicKey(): string {
    return this.keys.keyFor(this.o.account).publicKey;
  }

  vouchers(channel: string): SignedVoucher[] {
    return this.state.vouchers[channel] ?? [];
  }

  connect(): void {
    const ws = new WebSocket(`${this.o.url.replace(/^http/, 'ws')}/api/stream`, { headers: { authorization: `Bearer ${this.o.token}` } });
    this.ws = ws;
    ws.on('message', (d) => this.onMessage(JSON.parse(d.toString()) as Record<string, unknown>));
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'stream error'));
    ws.on('close', () => {
      if (this.closing) return;
      this.log.warn('stream closed; reconnecting');
      this.reconnect = setTimeout(() => this.connect(), 1000);
    });
  }

  private send(m: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private save(): void {
    writePrivateFileAtomic(this.stateFile, JSON.stringify(this.state));
  }

  private onMessage(m: Record<string, unknown>): void {
    switch (m.type) {
      case 'ready':
        this.send({ type: 'subscribe', topics: ['readings'], ...(this.o.devices ? { devices: this.o.devices } : {}) });
        return;
      case 'reading': {
        const { type: _t, ...reading } = m;
        this.state.head = crypto.createHash('sha256').update(this.state.head, 'hex').update(canonicalJson(reading), 'utf8').digest('hex');
        this.received++;
        this.onReading(reading);
        return;
      }
      case 'bill':
        return this.pay(m as unknown as BillView);
      case 'voucher-refused':
        this.log.warn({ channel: m.channel, seq: m.seq, reason: m.reason }, 'the seller refused a voucher');
        return;
      case 'error':
        this.log.warn({ error: m.error }, 'the seller answered an error');
        return;
      default:
        return;
    }
  }

  /** Pay what the bill says was delivered, up to the deposit; re-send what the seller has not taken. */
  pay(bill: BillView): void {
    const mine = this.state.vouchers[bill.channel] ?? [];
    const ahead = mine.filter((v) => v.seq > bill.seq);
    if (ahead.length > 0) {
      for (const v of ahead) this.send({ type: 'voucher', voucher: v, deposit: formatMoney(this.depositNano) });
      return;
    }
    const accrued = parseDecimal(bill.accrued, MONEY_FRAC);
    const paid = parseDecimal(bill.paid, MONEY_FRAC);
    const amount = accrued < this.depositNano ? accrued : this.depositNano;
    if (amount <= paid) return;
    const v = signVoucher(
      {
        payer: bill.payer,
        payee: bill.payee,
        seq: bill.seq + 1,
        amountNano: amount,
        currency: this.currencyOf(bill),
        ledgerHead: this.state.head,
        issuedAtMs: Date.now(),
      },
      this.keys.keyFor(this.o.account),
    );
    this.state.vouchers[bill.channel] = [...mine, v];
    this.save(); // kept before it leaves: a crash never re-signs this seq
    this.send({ type: 'voucher', voucher: v, deposit: formatMoney(this.depositNano) });
  }

  private currencyOf(bill: BillView): string {
    const last = (this.state.vouchers[bill.channel] ?? []).at(-1);
    return last?.currency ?? this.currency;
  }

  currency = 'NOK';

  close(): void {
    this.closing = true;
    if (this.reconnect) clearTimeout(this.reconnect);
    this.ws?.terminate();
  }
}

export async function buyCommand(opts: BuyOptions & { currency?: string }): Promise<void> {
  const token = opts.token ?? (opts.tokenFile ? fs.readFileSync(opts.tokenFile, 'utf8').trim() : undefined);
  if (!token) throw new Error('give --token or --token-file (the buyer token: m2m-gateway token --buyer ID on the seller)');
  const log = createLogger('m2m-buy');
  const limit = opts.readings !== undefined ? Number(opts.readings) : Infinity;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const client = new BuyerClient(
    {
      url: opts.url.replace(/\/+$/, ''),
      account: opts.account,
      token,
      dir: path.resolve(opts.dir),
      deposit: opts.deposit ?? '10',
      devices: opts.devices?.split(','),
    },
    log,
    (r) => {
      if (!opts.quiet) process.stdout.write(`${JSON.stringify(r)}\n`);
      if (client.received >= limit) done();
    },
  );
  if (opts.currency) client.currency = opts.currency;
  process.stderr.write(`buyer ${opts.account}: key ${client.publicKey} (in ${path.join(path.resolve(opts.dir), 'keys')})\n`);
  client.connect();
  await Promise.race([untilSignal(), finished]);
  client.close();
}
