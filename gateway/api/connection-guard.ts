/**
 * Keeps the HTTP server answering while clients hold connections open
 * without using them (docs/api.md "Limits"):
 *
 * - A connection that has not yet sent a request is *pending*. At most
 *   `maxPending` are kept, `maxPendingPerAddress` per remote address; a new
 *   one displaces the oldest pending one (of its address first), so a flood
 *   of half-open sockets ages itself out instead of locking others out.
 *   node:http's `headersTimeout` closes what stays pending too long.
 * - Between requests a keep-alive connection is *idle*.
 * - At `maxConnections` in all, a new connection displaces the oldest idle,
 *   else the oldest pending connection; only when every connection is busy
 *   with a request (or is a WebSocket) is the new one refused.
 *
 * Requests in progress and upgraded sockets (the stream hub keeps its own
 * budgets) are never displaced.
 */
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { AddressPool } from './address-pool';

export interface ConnectionGuardLimits {
  maxConnections: number;
  maxPending: number;
  maxPendingPerAddress: number;
}

export type GuardDrop = 'pending' | 'idle' | 'refused';

export class ConnectionGuard {
  private readonly all = new Set<Socket>();
  private readonly pending: AddressPool<Socket>;
  /** Keep-alive sockets between requests, oldest first. */
  private readonly idle = new Set<Socket>();

  constructor(
    server: http.Server,
    private readonly limits: ConnectionGuardLimits,
    private readonly onDrop: (why: GuardDrop) => void = () => undefined,
  ) {
    this.pending = new AddressPool<Socket>(limits.maxPending, limits.maxPendingPerAddress);
    server.on('connection', (s: Socket) => this.connected(s));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.request(req.socket, res));
  }

  get connections(): number {
    return this.all.size;
  }

  private connected(s: Socket): void {
    if (this.all.size >= this.limits.maxConnections) {
      const idle = this.oldestIdle();
      const victim = idle ?? this.pending.shiftOldest();
      if (victim) {
        this.drop(victim, idle ? 'idle' : 'pending');
      } else {
        this.onDrop('refused');
        s.destroy();
        return;
      }
    }
    this.all.add(s);
    s.once('close', () => {
      this.all.delete(s);
      this.pending.remove(s);
      this.idle.delete(s);
    });
    for (const old of this.pending.admit(s, s.remoteAddress ?? '?')) this.drop(old, 'pending');
  }

  private request(s: Socket, res: http.ServerResponse): void {
    this.busy(s);
    res.once('finish', () => {
      if (!s.destroyed && this.all.has(s)) this.idle.add(s);
    });
  }

  /** An upgrade request arrived on `socket` (called by the server's own upgrade listener: adding one here would hide that no other extension listens). */
  upgraded(socket: Duplex): void {
    this.busy(socket as Socket);
  }

  private busy(s: Socket): void {
    this.pending.remove(s);
    this.idle.delete(s);
  }

  private oldestIdle(): Socket | undefined {
    const first = this.idle.values().next();
    if (first.done) return undefined;
    this.idle.delete(first.value);
    return first.value;
  }

  private drop(s: Socket, why: GuardDrop): void {
    this.pending.remove(s);
    this.idle.delete(s);
    this.all.delete(s);
    this.onDrop(why);
    s.destroy();
  }
}
