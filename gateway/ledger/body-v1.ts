/**
 * The v1 batch body (schema version 1, before "the ledger keeps money, not
 * readings"): every delta, accrual and state upsert of a batch, its readings
 * as {count, digest}. A migrated ledger keeps its v1 batches in the chain
 * (their hashes are what older checkpoints and vouchers name), so
 * `ledger verify` still decodes and replays them. Nothing writes v1 bodies
 * any more.
 */
import type { BodyEvent, BodyPolicy, BodyVoucher } from './hash-chain';
import type { LedgerAccrual, LedgerDelta, LedgerEvent, LedgerPolicy, LedgerVoucher } from './store';

export interface BatchBodyV1 {
  accruals: Array<Record<string, unknown> & { amountNano: string; priceNano: string; qtyMicro: string }>;
  atMs: number;
  deltas: Array<Record<string, unknown> & { qtyMicro: string }>;
  events: BodyEvent[];
  policy: BodyPolicy | null;
  policyVersion: number;
  pruned: { throughSeq: number } | null;
  readings: { count: number; digest: string };
  seq: number;
  state: { accounts: unknown[]; lines: unknown[]; slots: unknown[] };
  v: 1;
  vouchers: BodyVoucher[];
}

export interface BodyV1Content {
  atMs: number;
  policyVersion: number;
  deltas: LedgerDelta[];
  accruals: LedgerAccrual[];
  events: LedgerEvent[];
  vouchers: LedgerVoucher[];
  policy: LedgerPolicy | null;
}

/** Back to typed values (bigints). Throws on a malformed body. */
export function fromBodyV1(body: BatchBodyV1): BodyV1Content {
  return {
    atMs: body.atMs,
    policyVersion: body.policyVersion,
    deltas: body.deltas.map((d) => ({ ...(d as unknown as LedgerDelta), qtyMicro: BigInt(d.qtyMicro) })),
    accruals: body.accruals.map((a) => ({
      ...(a as unknown as LedgerAccrual),
      qtyMicro: BigInt(a.qtyMicro),
      amountNano: BigInt(a.amountNano),
      priceNano: BigInt(a.priceNano),
    })),
    events: body.events.map((e) => ({ ...e })),
    vouchers: body.vouchers.map((v) => ({ ...v, amountNano: BigInt(v.amountNano) })),
    policy: body.policy,
  };
}
