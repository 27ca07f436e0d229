/**
 * A client of the embedded Node-RED admin API (/admin): password login,
 * deploys, and node status through the editor's comms WebSocket.
 */
import { WebSocket } from 'ws';

export interface NodeStatusMessage {
  fill?: string;
  shape?: string;
  text?: string;
}

export async function editorToken(apiUrl: string, password: string): Promise<Response> {
  return fetch(`${apiUrl}/admin/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password }),
  });
}

export class NodeRedAdmin {
  private constructor(
    readonly apiUrl: string,
    readonly token: string,
  ) {}

  static async login(apiUrl: string, password: string): Promise<NodeRedAdmin> {
    const res = await editorToken(apiUrl, password);
    if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { access_token: string };
    return new NodeRedAdmin(apiUrl, body.access_token);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: `Bearer ${this.token}`, 'Node-RED-API-Version': 'v2', ...extra };
  }

  async flows(): Promise<{ rev: string; flows: Array<Record<string, unknown>> }> {
    const res = await fetch(`${this.apiUrl}/admin/flows`, { headers: this.headers() });
    if (res.status !== 200) throw new Error(`GET /admin/flows: HTTP ${res.status}`);
    return (await res.json()) as { rev: string; flows: Array<Record<string, unknown>> };
  }

  /** A full deploy, as the editor's Deploy button does it. */
  async deploy(flows: unknown[]): Promise<Response> {
    return fetch(`${this.apiUrl}/admin/flows`, {
      method: 'POST',
      headers: this.headers({ 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }),
      body: JSON.stringify({ flows }),
    });
  }

  /** Press an inject node's button (POST /admin/inject/:id). */
  async inject(nodeId: string): Promise<number> {
    const res = await fetch(`${this.apiUrl}/admin/inject/${nodeId}`, { method: 'POST', headers: this.headers() });
    return res.status;
  }

  /** Open the comms WebSocket, authenticate and subscribe to node status (retained values arrive first) and debug messages. */
  async statusFeed(): Promise<StatusFeed> {
    const ws = new WebSocket(`${this.apiUrl.replace(/^http/, 'ws')}/admin/comms`);
    const feed = new StatusFeed(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () => {
        ws.off('error', reject);
        resolve();
      });
    });
    ws.send(JSON.stringify({ auth: this.token }));
    await feed.authenticated;
    ws.send(JSON.stringify({ subscribe: 'status/#' }));
    ws.send(JSON.stringify({ subscribe: 'debug' }));
    return feed;
  }
}

export class StatusFeed {
  /** Latest status per node id. */
  readonly latest = new Map<string, NodeStatusMessage>();
  /** Messages of debug nodes: the debug node's id and the msg it showed (set the debug node to "complete msg object"). */
  readonly debug: Array<{ id: string; msg: Record<string, unknown> }> = [];
  readonly authenticated: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(private readonly ws: WebSocket) {
    this.authenticated = new Promise((resolve, reject) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as unknown;
        if (!Array.isArray(msg)) {
          const auth = (msg as { auth?: string }).auth;
          if (auth === 'ok') resolve();
          else if (auth === 'fail') reject(new Error('comms authentication failed'));
          return;
        }
        for (const m of msg as Array<{ topic: string; data: unknown }>) {
          if (m.topic.startsWith('status/')) this.latest.set(m.topic.slice('status/'.length), (m.data ?? {}) as NodeStatusMessage);
          if (m.topic === 'debug') {
            const d = m.data as { id: string; msg: string; format: string };
            this.debug.push({ id: d.id, msg: (d.format === 'Object' ? JSON.parse(d.msg) : { payload: d.msg }) as Record<string, unknown> });
          }
        }
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  /** Resolves with the node's status once `pred` holds for it (rejects after `ms`). */
  waitFor(nodeId: string, pred: (s: NodeStatusMessage) => boolean, ms = 10_000): Promise<NodeStatusMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`status of ${nodeId}: still ${JSON.stringify(this.latest.get(nodeId))} after ${ms} ms`));
      }, ms);
      const check = (): void => {
        const s = this.latest.get(nodeId);
        if (s && pred(s)) {
          clearTimeout(timer);
          resolve(s);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /** Resolves with the first debug message of node `id` that satisfies `pred`. */
  waitForDebug(id: string, pred: (msg: Record<string, unknown>) => boolean, ms = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no matching debug message from ${id} after ${ms} ms (${this.debug.filter((d) => d.id === id).length} others)`));
      }, ms);
      const check = (): void => {
        const hit = this.debug.find((d) => d.id === id && pred(d.msg));
        if (hit) {
          clearTimeout(timer);
          resolve(hit.msg);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.ws.close();
  }
}
