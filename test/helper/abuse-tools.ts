/**
 * Jest helper for the abuse tests (test/integration/abuse.test.ts): what an
 * attacker sends and what a watcher measures, against a daemon running as a
 * child process. Every attack is bounded in bytes and time and stops itself.
 *
 *   const watch = watchDaemon(pid, url);              // RSS + /api/health latency, every 100 ms
 *   ... attack ...
 *   const fig = await watch.stop();                    // {rssMaxMb, healthMaxMs, healthFailures, ...}
 *   const ws = await rawUpgrade(url, {token});         // a WebSocket on a bare socket that never reads
 *   await pingFlood(ws, 16 << 20, 5_000);              // masked {"type":"ping"} frames, not reading replies
 *   const holder = holdHalfOpen(url, 300, addresses);  // connections that never send a request
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';

/** Resident set size of a process in MB (from /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** GET /api/health on a new connection (no keep-alive pool), from `localAddress`; resolves to ms, rejects on error or after `timeoutMs`. */
export function healthOnce(url: string, timeoutMs = 2_000, localAddress = '127.0.0.1'): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/api/health`, { agent: false, localAddress, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`health ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no health answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface Figures {
  rssIdleMb: number;
  rssMaxMb: number;
  healthMaxMs: number;
  healthSamples: number;
  healthFailures: string[];
}

/** Sample the daemon's RSS and /api/health latency every `everyMs` until stop(). */
export function watchDaemon(pid: number, url: string, rssIdleMb: number, everyMs = 100): { stop(): Promise<Figures> } {
  const fig: Figures = { rssIdleMb, rssMaxMb: rssMb(pid), healthMaxMs: 0, healthSamples: 0, healthFailures: [] };
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      fig.rssMaxMb = Math.max(fig.rssMaxMb, rssMb(pid));
      try {
        fig.healthMaxMs = Math.max(fig.healthMaxMs, await healthOnce(url, 2_000));
      } catch (e) {
        fig.healthFailures.push((e as Error).message);
        fig.healthMaxMs = Math.max(fig.healthMaxMs, performance.now() - started);
      }
      fig.healthSamples += 1;
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (performance.now() - started))));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      fig.rssMaxMb = Math.max(fig.rssMaxMb, rssMb(pid));
      return fig;
    },
  };
}

/** A masked client WebSocket text frame (payload < 126 bytes). */
export function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error('test bug: frame too long');
  const mask = randomBytes(4);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x81;
  out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return out;
}

/** A WebSocket opened on a bare TCP socket (so nothing reads what the server sends): resolves once the 101 arrived. */
export function rawUpgrade(
  url: string,
  opts: { token?: string; localAddress?: string } = {},
): Promise<{ socket: net.Socket; status: number }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port), localAddress: opts.localAddress });
    socket.on('error', () => undefined);
    let head = '';
    const onData = (b: Buffer) => {
      head += b.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause(); // from here on the client reads nothing
      resolve({ socket, status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0) });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before the upgrade answer: ${head.slice(0, 200)}`)));
    socket.once('connect', () => {
      socket.write(
        `GET /api/stream HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          (opts.token ? `Authorization: Bearer ${opts.token}\r\n` : '') +
          '\r\n',
      );
    });
  });
}

/** Write `{"type":"ping"}` frames without reading, until `maxBytes` were written, the server closed, or `maxMs` passed. */
export async function pingFlood(
  socket: net.Socket,
  maxBytes: number,
  maxMs: number,
): Promise<{ bytes: number; closedByServer: boolean; ms: number }> {
  const chunk = Buffer.concat(Array.from({ length: 4096 }, () => maskedTextFrame('{"type":"ping"}')));
  const t0 = performance.now();
  let bytes = 0;
  let closed = socket.destroyed;
  socket.once('close', () => (closed = true));
  while (!closed && bytes < maxBytes && performance.now() - t0 < maxMs) {
    const ok = socket.write(chunk);
    bytes += chunk.length;
    if (!ok) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        socket.once('drain', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  // Read again (and throw it away) so that the server's close is seen; it may take a moment (close handshake grace).
  socket.on('data', () => undefined);
  socket.resume();
  const deadline = performance.now() + 7_000;
  while (!closed && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const ms = performance.now() - t0;
  socket.destroy();
  return { bytes, closedByServer: closed, ms };
}

/**
 * Keep `count` connections open to the server that never complete a request
 * (half of them send a partial request line), spread over `addresses`;
 * reconnect any the server closes, until stop().
 */
export function holdHalfOpen(url: string, count: number, addresses: string[]): { stop(): { opened: number; closedByServer: number } } {
  const u = new URL(url);
  const sockets = new Set<net.Socket>();
  let opened = 0;
  let closedByServer = 0;
  let running = true;
  const open = (i: number): void => {
    if (!running) return;
    const s = net.connect({ host: u.hostname, port: Number(u.port), localAddress: addresses[i % addresses.length] });
    opened += 1;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    if (i % 2 === 1) s.once('connect', () => s.write('GET /api/health HTTP/1.1\r\nHost: x\r\n'));
    s.once('close', () => {
      sockets.delete(s);
      if (!running) return;
      closedByServer += 1;
      setTimeout(() => open(i), 100);
    });
  };
  for (let i = 0; i < count; i++) open(i);
  return {
    stop() {
      running = false;
      for (const s of sockets) s.destroy();
      return { opened, closedByServer };
    },
  };
}

/** Prometheus text → the value of a sample (`name{labels}` as written), or undefined. */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}
