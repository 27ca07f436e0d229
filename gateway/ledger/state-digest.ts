/**
 * Digests of the ledger state a commit leaves, as its body records them
 * (hash-chain.ts) and `ledger verify` recomputes them from the tables at the
 * head (verify.ts): one sha256 over the rows of each kind, in name order.
 *
 *   device row  = sha256(device ‖ 0 ‖ layout ‖ 0 ‖ packed state)
 *   devices     = sha256(device row digests, ordered by device)
 *   account row = sha256(account ‖ 0 ‖ unsettled ‖ 0 ‖ over-limit 0|1)
 *   accounts    = sha256(account row digests, ordered by account)
 *
 * Names are ordered by UTF-16 code units (JS `<`), the same everywhere.
 */
import { createHash } from 'node:crypto';

export function deviceRowDigest(device: string, layout: string, data: Uint8Array): Buffer {
  return createHash('sha256').update(device, 'utf8').update('\u0000').update(layout, 'utf8').update('\u0000').update(data).digest();
}

export function accountRowDigest(account: string, unsettledNano: bigint | string, overLimit: boolean): Buffer {
  return createHash('sha256')
    .update(`${account}\u0000${String(unsettledNano)}\u0000${overLimit ? 1 : 0}`, 'utf8')
    .digest();
}

/** sha256 over row digests in key order (hex). */
export function combineDigests(rows: ReadonlyMap<string, Buffer>): string {
  const h = createHash('sha256');
  for (const k of [...rows.keys()].sort()) h.update(rows.get(k)!);
  return h.digest('hex');
}

/** The state digests of what the tables hold (the migration's commit, and `ledger verify` at the head). */
export function tableDigests(db: import('better-sqlite3').Database): { accounts: string; devices: string } {
  const devices = new Map<string, Buffer>();
  type DeviceRow = { device: string; layout: string; data: Buffer };
  for (const r of db
    .prepare('SELECT l.device, l.layout, s.data FROM device_layout l JOIN device_state s ON s.id = l.id')
    .iterate() as Iterable<DeviceRow>) {
    devices.set(r.device, deviceRowDigest(r.device, r.layout, r.data));
  }
  const accounts = new Map<string, Buffer>();
  type AccountRow = { account: string; unsettled_nano: string; over_limit: number };
  for (const a of db.prepare('SELECT account, unsettled_nano, over_limit FROM account_state').iterate() as Iterable<AccountRow>) {
    accounts.set(a.account, accountRowDigest(a.account, a.unsettled_nano, a.over_limit !== 0));
  }
  return { accounts: combineDigests(accounts), devices: combineDigests(devices) };
}
