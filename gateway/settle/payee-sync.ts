/**
 * What each payee has received of this gateway's vouchers, asked from the
 * payee's own collector (`m2m-gateway collect`, GET /api/receivables) every
 * `settlement.payees.<id>.pollMs` (docs/settlement.md). Two jobs:
 *
 *  1. Funded channels: a receivable that matches a voucher this gateway
 *     issued (same seq, same amount) is recorded as received
 *     (payments-in.ts), which lowers what the payer account owes. Vouchers
 *     the gateway merely issued never do, so it cannot lift its own cut-off.
 *  2. Restore safety: until the payee has answered once since the start, no
 *     voucher is issued on its channels (the `SettleGate`), so a gateway
 *     restored from an older backup learns the last seq it published before
 *     it could publish that seq again. When the payee holds a seq beyond the
 *     ledger's, the channel continues from it (`floor`), and a
 *     `settle-resync` event, the health answer and the log say so.
 *
 * With an MQTT uplink the gateway also reads back its own last published
 * voucher per channel (retained on `…/vouchers/<channel>`, signed by its own
 * key) before any channel settles, and continues after it in the same way.
 * Payees without a `receivables` URL are not asked; without MQTT either, a
 * restore cannot be detected for their channels.
 */
import fs from 'node:fs';
import { formatMoney, parseDecimal, MONEY_FRAC } from '../base/decimal';
import type { Logger } from '../base/log';
import type { PayeeSettlement } from '../config/schema';
import type { LedgerEvent, LedgerStore } from '../ledger/store';
import type { Receivable } from './collector-store';
import type { PaymentsIn } from './payments-in';
import { checkVoucher } from './voucher-check';
import type { SettleGate } from './voucher-issuer';

export const SETTLE_RESYNC = 'settle-resync';
const AMOUNT = /^(?:0|[1-9]\d*)\.\d{9}$/;

export interface PayeeSyncDeps {
  payees: Record<string, PayeeSettlement>;
  /** Accounts this gateway signs for. */
  operates: (account: string) => boolean;
  ledger: Pick<LedgerStore, 'channels' | 'voucherAmount'>;
  payments: PaymentsIn;
  currency: string;
  record: (events: LedgerEvent[]) => void;
  log: Logger;
  /** Called after each successful answer (the issuer may now settle). */
  onSynced?: () => void;
  /** The public key this gateway signs an operated account's vouchers with (null: none). */
  ownKey?: (account: string) => string | null;
}

/** What the health answer calls the wait for the gateway's own retained vouchers. */
export const OWN_VOUCHERS = 'mqtt:own-vouchers';

export class PayeeSync implements SettleGate {
  private readonly synced = new Set<string>();
  private readonly floors = new Map<string, { seq: number; amountNano: bigint }>();
  private readonly restored = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly failing = new Set<string>();
  private stopped = false;
  private ownPending = false;

  constructor(private readonly d: PayeeSyncDeps) {}

  /** Hold every channel until the gateway's own retained vouchers were read back (MQTT uplink). */
  expectOwnVouchers(): void {
    this.ownPending = true;
    this.d.log.info('settlement waits for the last vouchers published on MQTT (restore safety)');
  }

  /** One of this gateway's own retained vouchers, read back from the broker. */
  ownVoucher(value: unknown): void {
    const r = checkVoucher(value);
    if (!r.ok || !this.d.operates(r.voucher.payer)) return;
    const v = r.voucher;
    if (this.d.ownKey?.(v.payer) !== v.payerKey || v.currency !== this.d.currency) return; // only what this gateway signed
    const lastSeq = this.d.ledger.channels().find((c) => c.channel === v.channel)?.lastSeq ?? 0;
    if (v.seq > lastSeq) this.raiseFloor(v.channel, v.payer, v.seq, parseDecimal(v.amount, MONEY_FRAC), lastSeq, 'mqtt');
  }

  ownVouchersRead(): void {
    if (!this.ownPending) return;
    this.ownPending = false;
    this.d.log.info('own published vouchers read back from MQTT');
    this.d.onSynced?.();
  }

  private raiseFloor(channel: string, payer: string, seq: number, amountNano: bigint, ledgerSeq: number, source: string): void {
    const floor = this.floors.get(channel);
    if (floor && seq <= floor.seq) return;
    this.floors.set(channel, { seq, amountNano });
    this.restored.add(channel);
    const detail = { channel, publishedSeq: seq, publishedAmount: formatMoney(amountNano), ledgerSeq, source };
    this.d.record([{ kind: SETTLE_RESYNC, account: payer, tsMs: Date.now(), detail }]);
    this.d.log.warn(detail, 'a voucher seq beyond this ledger was published (restored from a backup?): the channel continues after it');
  }

  private payeeOf(channel: string): string {
    return channel.slice(channel.indexOf('>') + 1);
  }

  private asked(payee: string): boolean {
    return this.d.payees[payee]?.receivables !== undefined;
  }

  ready(channel: string): boolean {
    if (this.ownPending) return false;
    const payee = this.payeeOf(channel);
    return !this.asked(payee) || this.synced.has(payee);
  }

  floor(channel: string): { seq: number; amountNano: bigint } | undefined {
    return this.floors.get(channel);
  }

  /** For GET /api/health. */
  health(): { state: 'ok' | 'resyncing'; resyncing: string[]; restored: string[] } {
    const resyncing = Object.keys(this.d.payees).filter((p) => this.asked(p) && !this.synced.has(p));
    if (this.ownPending) resyncing.push(OWN_VOUCHERS);
    return { state: resyncing.length > 0 ? 'resyncing' : 'ok', resyncing, restored: [...this.restored].sort() };
  }

  start(): void {
    for (const [payee, p] of Object.entries(this.d.payees)) {
      if (!p.receivables) continue;
      this.d.log.info({ payee, receivables: p.receivables }, 'settlement of this payee waits for its receivables (restore safety)');
      const run = (): void => {
        void this.poll(payee).finally(() => {
          if (!this.stopped) this.timers.push(setTimeout(run, p.pollMs).unref());
        });
      };
      run();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
  }

  /** Ask one payee once; true when it answered. */
  async poll(payee: string): Promise<boolean> {
    const p = this.d.payees[payee];
    if (!p?.receivables) return false;
    let rows: Receivable[];
    try {
      const token = p.tokenFile ? fs.readFileSync(p.tokenFile, 'utf8').trim() : undefined;
      const res = await fetch(`${p.receivables}/api/receivables`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(Math.max(1000, Math.min(p.pollMs, 10_000))),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      rows = (await res.json()) as Receivable[];
      if (!Array.isArray(rows)) throw new Error('the answer is not a list');
    } catch (err) {
      if (!this.failing.has(payee))
        this.d.log.warn({ payee, err: (err as Error).message }, "cannot read the payee's receivables; retrying");
      this.failing.add(payee);
      return false;
    }
    if (this.stopped) return false;
    this.failing.delete(payee);
    this.apply(payee, rows);
    if (!this.synced.has(payee)) this.d.log.info({ payee }, 'payee receivables read: its channels settle');
    this.synced.add(payee);
    this.d.onSynced?.();
    return true;
  }

  private apply(payee: string, rows: Receivable[]): void {
    const local = new Map(this.d.ledger.channels().map((c) => [c.channel, c]));
    for (const r of rows) {
      if (
        typeof r !== 'object' ||
        r === null ||
        r.payee !== payee ||
        typeof r.channel !== 'string' ||
        r.channel !== `${r.payer}>${r.payee}`
      )
        continue;
      if (!this.d.operates(r.payer) || !Number.isSafeInteger(r.seq) || r.seq < 1 || typeof r.amount !== 'string' || !AMOUNT.test(r.amount))
        continue;
      if (r.currency !== this.d.currency) continue;
      const amountNano = parseDecimal(r.amount, MONEY_FRAC);
      const lastSeq = local.get(r.channel)?.lastSeq ?? 0;
      const floor = this.floors.get(r.channel);
      if (r.seq > lastSeq) {
        // The payee holds a voucher this ledger does not: it was restored from an older copy.
        this.raiseFloor(r.channel, r.payer, r.seq, amountNano, lastSeq, 'receivables');
      } else {
        const mine = this.d.ledger.voucherAmount(r.channel, r.seq);
        if (mine !== amountNano) {
          if (!floor || floor.seq < r.seq)
            this.d.log.error(
              { channel: r.channel, seq: r.seq, amount: r.amount, ours: mine === undefined ? null : formatMoney(mine) },
              'the payee reports a voucher that differs from the one issued; not counted as received',
            );
          if (!floor || floor.seq !== r.seq || floor.amountNano !== amountNano) continue;
        }
      }
      this.d.payments.record({ channel: r.channel, payer: r.payer, payee: r.payee, seq: r.seq, amountNano }, 'receivables');
    }
  }
}
