/**
 * `m2m-credit-limit` with `action: cutoff` (docs/policies.md): when an
 * account passes its limit the named switch point is written off, and when it
 * falls back under the re-arm level it is written on again; both writes are
 * confirmed by read-back and recorded as `cutoff` (or `cutoff-failed`) events.
 *
 * It acts on the committed `credit-over` / `credit-under` events, so a
 * crossing that was never committed never switches anything.
 */
import type { Logger } from '../base/log';
import type { LedgerEvent } from '../ledger/store';
import type { CompiledCreditLimit } from './compile';

export interface CreditCutoffDeps {
  /** The credit limits of the active policy set. */
  limits: () => readonly CompiledCreditLimit[];
  /** Whether a point takes a boolean (coil or bool) rather than 0/1. */
  isBoolean: (device: string, point: string) => boolean;
  write: (device: string, point: string, value: string | boolean) => Promise<{ value: string | boolean }>;
  record: (events: LedgerEvent[]) => void;
  log: Logger;
}

export class CreditCutoff {
  constructor(private readonly d: CreditCutoffDeps) {}

  /** Call with each committed event; acts on credit crossings only. */
  onEvent(kind: string, account: string | undefined): void {
    if ((kind === 'credit-over' || kind === 'credit-under') && account) this.apply(account, kind === 'credit-over');
  }

  private apply(account: string, over: boolean): void {
    for (const c of this.d.limits()) {
      if (c.account !== account || c.action !== 'cutoff' || !c.device || !c.point) continue;
      const { device, point } = c;
      const want = !over;
      const value = this.d.isBoolean(device, point) ? want : want ? '1' : '0';
      this.d.write(device, point, value).then(
        (r) =>
          this.d.record([
            {
              kind: 'cutoff',
              device,
              point,
              account,
              tsMs: Date.now(),
              detail: { on: want, confirmed: String(r.value), policy: c.nodeId },
            },
          ]),
        (err: Error) => {
          this.d.log.error({ device, point, account, err: err.message }, 'credit-limit cutoff write failed');
          this.d.record([
            { kind: 'cutoff-failed', device, point, account, tsMs: Date.now(), detail: { on: want, error: err.message, policy: c.nodeId } },
          ]);
        },
      );
    }
  }
}
