/**
 * The demo's service centre, simulated on loopback HTTP (docs/policies.md,
 * "Delivery and acknowledgement"): `POST …/orders` with a service order as
 * JSON is acknowledged with `202 {"id": "<order id>", "status": "accepted"}`,
 * and `visitAfterMs` later a technician "visits" (the `onVisit` callback,
 * e.g. fitting a new cartridge). A repeated order (same id) is acknowledged
 * again but visited once. `stop()` closes the port (connections are refused,
 * like a service centre that is down); `start()` again on the same port
 * brings it back.
 */
import http from 'node:http';

/** Where the simulated centre takes orders (any path ending in /orders is accepted). */
export const SERVICE_CENTRE_PATH = '/service-centre/orders';

export interface ReceivedOrder {
  id: string;
  device: string;
  at: number;
  body: Record<string, unknown>;
}

export interface ServiceCentreOptions {
  /** Delay from the order to the visit (default 5 s); visits are off without `onVisit`. */
  visitAfterMs?: number;
  onVisit?: (order: ReceivedOrder) => void;
}

export class ServiceCentreSim {
  /** Every order POSTed and acknowledged, in arrival order (repeats included). */
  readonly received: ReceivedOrder[] = [];
  readonly visited: string[] = [];
  private server: http.Server | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly scheduled = new Set<string>();
  private portNo = 0;

  constructor(private readonly opts: ServiceCentreOptions = {}) {}

  get port(): number {
    return this.portNo;
  }

  /** The URL orders are POSTed to. */
  get url(): string {
    return `http://127.0.0.1:${this.portNo}${SERVICE_CENTRE_PATH}`;
  }

  start(port = this.portNo): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const a = server.address();
        this.portNo = typeof a === 'object' && a ? a.port : port;
        resolve();
      });
    });
  }

  /** Close the port and every open connection; pending visits still happen unless `cancelVisits`. */
  stop(cancelVisits = false): Promise<void> {
    if (cancelVisits) for (const t of this.timers) clearTimeout(t);
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'POST' || !/\/orders$/.test(req.url ?? '')) {
      res.writeHead(404).end();
      return;
    }
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > 65_536) req.destroy();
    });
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const id = String(body.id ?? '');
      const order = { id, device: String(body.device ?? ''), at: Date.now(), body };
      const repeat = this.scheduled.has(id);
      this.received.push(order);
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id, status: 'accepted' }));
      if (!repeat) this.scheduleVisit(order);
    });
  }

  /** Visit for an order acknowledged before (a restarted demo); at most once per order. */
  scheduleVisit(order: Pick<ReceivedOrder, 'id' | 'device'> & Partial<ReceivedOrder>): void {
    const { onVisit } = this.opts;
    if (!onVisit || this.scheduled.has(order.id)) return;
    this.scheduled.add(order.id);
    const full: ReceivedOrder = { at: Date.now(), body: {}, ...order };
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.visited.push(order.id);
      onVisit(full);
    }, this.opts.visitAfterMs ?? 5_000);
    t.unref();
    this.timers.add(t);
  }
}
