/**
 * The stream's budgets (docs/api.md "Limits"), apart from the hub that
 * applies them: the limits with their defaults, which authenticated slots a
 * principal may still take, and each client's incoming message rate.
 * Unauthenticated sockets have their own pool (address-pool.ts).
 */
import type { Principal } from './auth';

export interface StreamLimits {
  maxClients?: number; // default 64 authenticated clients
  adminReserve?: number; // default 4 of them only admin tokens may take
  maxClientsPerBuyer?: number; // default 4 per buyer account
  maxPending?: number; // default 16 sockets without a token yet
  maxPendingPerAddress?: number; // default 4 of them per remote address
  maxBufferedBytes?: number; // default 1 MiB of unsent data per client
  maxMessagesPerSecond?: number; // default 100 client messages per second (burst 200)
  heartbeatMs?: number; // default 30 000
  authTimeoutMs?: number; // default 5 000
  dropGraceMs?: number; // default 5 000
  maxIncomingBytes?: number; // default 16 KiB per client message
}

export function streamLimits(l: StreamLimits = {}): Required<StreamLimits> {
  return {
    maxClients: l.maxClients ?? 64,
    adminReserve: l.adminReserve ?? 4,
    maxClientsPerBuyer: l.maxClientsPerBuyer ?? 4,
    maxPending: l.maxPending ?? 16,
    maxPendingPerAddress: l.maxPendingPerAddress ?? 4,
    maxBufferedBytes: l.maxBufferedBytes ?? 1024 * 1024,
    maxMessagesPerSecond: l.maxMessagesPerSecond ?? 100,
    heartbeatMs: l.heartbeatMs ?? 30_000,
    authTimeoutMs: l.authTimeoutMs ?? 5_000,
    dropGraceMs: l.dropGraceMs ?? 5_000,
    maxIncomingBytes: l.maxIncomingBytes ?? 16 * 1024,
  };
}

/**
 * Why `principal` may not take another authenticated slot beside the
 * `connected` principals, or null when it may: 64 in all, the last
 * `adminReserve` for admin tokens, `maxClientsPerBuyer` per buyer account.
 */
export function slotRefusal(connected: Iterable<Principal | null>, principal: Principal, lim: Required<StreamLimits>): string | null {
  let total = 0;
  let same = 0;
  for (const p of connected) {
    if (!p) continue;
    total += 1;
    if (principal.kind === 'buyer' && p.kind === 'buyer' && p.account === principal.account) same += 1;
  }
  if (total >= lim.maxClients) return 'too many stream clients';
  if (principal.kind === 'buyer') {
    if (total >= lim.maxClients - lim.adminReserve) return 'too many stream clients';
    if (same >= lim.maxClientsPerBuyer) return `too many stream clients for buyer ${principal.account}`;
  }
  return null;
}

/** A client's incoming message allowance: `rate` per second, bursts of twice that (token bucket). */
export class MessageRate {
  private allowance: number;
  private at: number;
  constructor(
    private readonly rate: number,
    now = Date.now(),
  ) {
    this.allowance = 2 * rate;
    this.at = now;
  }

  /** Take one message; false when the client is over its rate. */
  take(now = Date.now()): boolean {
    this.allowance = Math.min(2 * this.rate, this.allowance + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.allowance < 1) return false;
    this.allowance -= 1;
    return true;
  }
}
