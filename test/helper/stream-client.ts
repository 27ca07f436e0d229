/**
 * Jest helper: a WebSocket client of /api/stream that records every message
 * and waits for one of a type (bounded by the test's own timeouts).
 */
import WebSocket from 'ws';

export type Msg = { type: string; [k: string]: unknown };

export class StreamClient {
  readonly messages: Msg[] = [];
  private waiters: Array<{ type: string; from: number; resolve: (m: Msg) => void }> = [];
  readonly opened: Promise<void>;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Msg;
      this.messages.push(m);
      const i = this.messages.length - 1;
      this.waiters = this.waiters.filter((w) => (w.type === m.type && i >= w.from ? (w.resolve(m), false) : true));
    });
    ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }
  static connect(baseUrl: string, token: string): StreamClient {
    return new StreamClient(
      new WebSocket(`${baseUrl.replace('http', 'ws')}/api/stream`, { headers: { Authorization: `Bearer ${token}` } }),
    );
  }
  send(m: object): void {
    this.ws.send(JSON.stringify(m));
  }
  next(type: string, from = 0): Promise<Msg> {
    const seen = this.messages.slice(from).find((m) => m.type === type);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ type, from, resolve }));
  }
  /** Send and wait for the first answer of `type` after it. */
  async ask(m: object, type: string): Promise<Msg> {
    const n = this.messages.length;
    this.send(m);
    return this.next(type, n);
  }
  /** Every message the server sent before this has arrived. */
  async sync(): Promise<void> {
    const n = this.messages.length;
    this.send({ type: 'ping' });
    await this.next('pong', n);
  }
  readings(): Array<{ device: string; points: Record<string, unknown> }> {
    return this.messages.filter((m) => m.type === 'reading') as unknown as Array<{ device: string; points: Record<string, unknown> }>;
  }
  count(type: string): number {
    return this.messages.filter((m) => m.type === type).length;
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.terminate();
    });
  }
}
