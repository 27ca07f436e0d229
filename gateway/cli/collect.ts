/**
 * `m2m-gateway collect --config FILE`: the payee's side (docs/settlement.md,
 * "Payees collect"). Pulls vouchers from gateways (GET /api/vouchers with a
 * payee token) and/or receives them over MQTT (`<prefix>/+/vouchers/+`,
 * as an MQTT 5 shared subscription `$share/<group>/…` when `mqtt.group` is
 * set, so several collectors split one stream), verifies and keeps them
 * (settle/collector-store.ts), and serves with a bearer token:
 *
 *   GET /api/receivables   [{channel, payer, payee, seq, amount, currency, receivedAt}]
 *   GET /api/vouchers      every voucher kept (?channel=)
 *   GET /api/events        double-issue and voucher-refused events (?kind=)
 *   GET /api/health        {status, payees, receivables}  (no token)
 *
 * Collectors of one group agree: each voucher a collector accepts it passes
 * on, retained, on `<prefix>/collect/<group>/vouchers/<channel>`, which every
 * member reads (not shared); a voucher proves itself by its payer signature,
 * whoever forwards it. The token is `<dataDir>/token` (0600), made at first start.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '../base/log';
import { writePrivateFileAtomic } from '../base/private-files';
import { parseCollectConfig, type CollectConfig } from '../config/collect-schema';
import { CollectorStore, type Offered } from '../settle/collector-store';
import { topicLevel } from '../uplink/messages';
import { untilSignal } from './start';

export interface CollectorHandle {
  url: string;
  token: string;
  store: CollectorStore;
  stop(): Promise<void>;
}

function loadToken(dataDir: string): { token: string; created: boolean } {
  const file = path.join(dataDir, 'token');
  if (fs.existsSync(file)) return { token: fs.readFileSync(file, 'utf8').trim(), created: false };
  const token = crypto.randomBytes(32).toString('base64url');
  writePrivateFileAtomic(file, `${token}\n`);
  return { token, created: true };
}

export async function startCollector(
  cfg: CollectConfig,
  log: Logger,
  opts: { port?: number; reconnectMs?: number } = {},
): Promise<CollectorHandle> {
  const store = new CollectorStore(cfg.dataDir, new Set(cfg.payees), cfg.payers);
  const { token } = loadToken(cfg.dataDir);
  let mqtt: MqttClient | null = null;
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  const gossipBase = cfg.mqtt?.group ? `${cfg.mqtt.topicPrefix}/collect/${cfg.mqtt.group}/vouchers` : null;

  const take = (value: unknown, source: string): Offered => {
    const r = store.offer(value, source);
    if (r.status === 'accepted') {
      log.info({ channel: r.voucher.channel, seq: r.voucher.seq, amount: r.voucher.amount, source }, 'voucher received');
      if (mqtt && gossipBase && source !== 'peer') {
        mqtt.publish(`${gossipBase}/${topicLevel(r.voucher.channel)}`, JSON.stringify(r.voucher), { qos: 1, retain: true });
      }
    } else if (r.status === 'double-issue') log.error({ source, reason: r.reason }, 'double-issue: two different vouchers carry one seq');
    else if (r.status === 'refused') log.warn({ source, field: r.field, reason: r.reason }, 'voucher refused');
    return r;
  };

  // Pull from gateways.
  for (const g of cfg.gateways) {
    let since = 0;
    let failing = false;
    const pull = async (): Promise<void> => {
      try {
        const t = fs.readFileSync(g.tokenFile, 'utf8').trim();
        const res = await fetch(`${g.url}/api/vouchers${since > 0 ? `?since=${since}` : ''}`, {
          headers: { authorization: `Bearer ${t}` },
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const list = (await res.json()) as unknown[];
        for (const v of list) {
          const r = take(v, g.url);
          if (r.status === 'accepted' || r.status === 'duplicate') since = Math.max(since, Date.parse(r.voucher.issuedAt));
        }
        if (failing) log.info({ gateway: g.url }, 'gateway reachable again');
        failing = false;
      } catch (err) {
        if (!failing) log.warn({ gateway: g.url, err: (err as Error).message }, 'cannot pull vouchers; retrying');
        failing = true;
      }
    };
    const loop = (): void => {
      void pull().finally(() => {
        if (!stopped) timers.push(setTimeout(loop, g.pollMs).unref());
      });
    };
    loop();
  }

  // Subscribe over MQTT 5.
  if (cfg.mqtt) {
    const m = cfg.mqtt;
    const topic = `${m.topicPrefix}/+/vouchers/+`;
    const shared = m.group ? `$share/${m.group}/${topic}` : topic;
    mqtt = connect(m.url, {
      protocolVersion: 5,
      clientId: m.clientId ?? `collect-${crypto.randomBytes(4).toString('hex')}`,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: opts.reconnectMs ?? 1000,
      username: m.username,
      password: m.passwordFile ? fs.readFileSync(m.passwordFile, 'utf8').trim() : undefined,
    });
    const subs: Record<string, { qos: 1 }> = { [shared]: { qos: 1 } };
    if (gossipBase) subs[`${gossipBase}/+`] = { qos: 1 };
    mqtt.on('connect', (ack) => {
      log.info({ url: m.url, sessionPresent: ack.sessionPresent }, 'collector connected to the broker');
      mqtt?.subscribe(subs);
    });
    mqtt.on('error', (err) => log.debug({ err: err.message }, 'collector MQTT error'));
    mqtt.on('message', (t, payload) => {
      let msg: unknown;
      try {
        msg = JSON.parse(payload.toString('utf8'));
      } catch {
        return log.warn({ topic: t }, 'not JSON; ignored');
      }
      const fromPeer = gossipBase !== null && t.startsWith(`${gossipBase}/`);
      const v = !fromPeer && typeof msg === 'object' && msg !== null && 'voucher' in msg ? (msg as { voucher: unknown }).voucher : msg;
      take(v, fromPeer ? 'peer' : `mqtt:${t}`);
    });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://collector');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: { code: 'GW_ERR_METHOD_NOT_ALLOWED', message: 'GET only' } });
    if (url.pathname === '/api/health') return send(200, { status: 'ok', payees: cfg.payees, receivables: store.receivables().length });
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const ok =
      auth !== undefined &&
      crypto.timingSafeEqual(crypto.createHash('sha256').update(auth).digest(), crypto.createHash('sha256').update(token).digest());
    if (!ok) return send(401, { error: { code: 'GW_ERR_UNAUTHORIZED', message: 'missing or invalid bearer token' } });
    if (url.pathname === '/api/receivables') return send(200, store.receivables());
    if (url.pathname === '/api/vouchers') return send(200, store.vouchers(url.searchParams.get('channel') ?? undefined));
    if (url.pathname === '/api/events') return send(200, store.events(url.searchParams.get('kind') ?? undefined));
    return send(404, { error: { code: 'GW_ERR_NOT_FOUND', message: 'no such route' } });
  });
  const i = cfg.listen.lastIndexOf(':');
  const host = cfg.listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? Number(cfg.listen.slice(i + 1)), host, () => resolve());
  });
  const addr = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    token,
    store,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((resolve) => (mqtt ? mqtt.end(false, {}, () => resolve()) : resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      store.close();
    },
  };
}

export async function collectCommand(opts: { config: string }): Promise<void> {
  const cfg = parseCollectConfig(fs.readFileSync(opts.config, 'utf8'), opts.config);
  const log = createLogger('m2m-collect');
  const c = await startCollector(cfg, log);
  process.stdout.write(
    `m2m-gateway collect for ${cfg.payees.join(', ')} running; API ${c.url} (token in ${path.join(cfg.dataDir, 'token')})\n`,
  );
  await untilSignal();
  await c.stop();
}
