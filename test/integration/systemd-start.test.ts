/**
 * `m2m-gateway start` as systemd runs it (deploy/m2m-gateway.service), with
 * stand-ins for the two things systemd hands a Type=notify service:
 *
 * - NOTIFY_SOCKET: a unix datagram socket read by a Python receiver; the real
 *   `systemd-notify` sends READY=1 / WATCHDOG=1 / STOPPING=1 to it;
 * - JOURNAL_STREAM: a file as stdout+stderr, named by its device:inode, so the
 *   daemon believes it writes to the journal and prefixes priorities.
 *
 * Also: an invalid M2M_LOG_LEVEL is a configuration error (exit 2), and the
 * generated secrets never reach the journal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exampleConfig, schemaFileIn } from '../../gateway/config/example';
import { CLI_MAIN, REPO_ROOT, killAllProcesses, requireBuild, runCli, waitFor } from '../helper/daemon-process';

const RECEIVER = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:  # sd_notify_barrier(3) passes an fd to close
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % 4])
            for fd in fds:
                os.close(fd)
    print(msg.decode().replace("\\n", "|"), flush=True)
`;

interface Received {
  at: number;
  fields: string[];
}

class NotifySocket {
  readonly messages: Received[] = [];
  private constructor(
    readonly path: string,
    private readonly proc: ChildProcess,
  ) {}

  static async open(dir: string): Promise<NotifySocket> {
    const sock = path.join(dir, 'notify.sock');
    const proc = spawn('/usr/bin/python3', ['-c', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ns = new NotifySocket(sock, proc);
    let buf = '';
    let listening = false;
    proc.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'listening') listening = true;
        else ns.messages.push({ at: Date.now(), fields: line.split('|') });
      }
    });
    await waitFor(() => (listening ? true : undefined), 'the notify socket receiver', 10_000);
    return ns;
  }

  with(field: string): Received[] {
    return this.messages.filter((m) => m.fields.includes(field));
  }

  close(): void {
    this.proc.kill('SIGKILL');
  }
}

let root: string;

function writeConfig(name: string): string {
  const file = path.join(root, name, 'm2m-gateway.yaml');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const text = exampleConfig(schemaFileIn(REPO_ROOT))
    .replace('listen: 127.0.0.1:8080', 'listen: 127.0.0.1:0\n  editor: false')
    .replace('port: 502 }', 'port: 1 }'); // nothing answers: the device goes offline, the daemon runs on
  fs.writeFileSync(file, text);
  return file;
}

/** Spawn `start` with stdout+stderr on one file, as systemd connects both to the journal. */
function startOnJournal(
  config: string,
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; streamFile: string; exited: Promise<number | null> } {
  const streamFile = path.join(path.dirname(config), 'journal-stream');
  const fd = fs.openSync(streamFile, 'w');
  const st = fs.fstatSync(fd, { bigint: true });
  const child = spawn(process.execPath, [CLI_MAIN, 'start', '--config', config], {
    cwd: REPO_ROOT,
    env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}`, ...env },
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, streamFile, exited };
}

async function health(url: string): Promise<number> {
  const res = await fetch(`${url}/api/health`);
  await res.arrayBuffer();
  return res.status;
}

beforeAll(() => {
  requireBuild();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-systemd-'));
});

afterAll(async () => {
  await killAllProcesses();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('start under systemd (Type=notify, journald)', () => {
  test('READY=1 once /api/health answers, WATCHDOG=1 every WatchdogSec/2 from then on, STOPPING=1 and exit 0 on SIGTERM', async () => {
    const config = writeConfig('notify');
    const notify = await NotifySocket.open(path.dirname(config));
    try {
      const { child, streamFile, exited } = startOnJournal(config, {
        NOTIFY_SOCKET: notify.path,
        WATCHDOG_USEC: '2000000', // WatchdogSec=2s: a ping every second
      });
      const ready = await waitFor(
        () => notify.with('READY=1')[0],
        () => `READY=1\n${fs.readFileSync(streamFile, 'utf8')}`,
        30_000,
      );
      // the API answers at the moment systemd hears READY=1
      const url = /running; API (http:\/\/\S+)/.exec(fs.readFileSync(streamFile, 'utf8'))?.[1];
      expect(url).toBeDefined();
      expect(await health(url!)).toBe(200);
      expect(ready.fields).toContain(`MAINPID=${child.pid}`);
      expect(ready.fields).toContain(`STATUS=API ${url}`);

      await waitFor(() => (notify.with('WATCHDOG=1').length >= 3 ? true : undefined), 'three WATCHDOG=1', 15_000);
      const pings = notify.with('WATCHDOG=1').map((m) => m.at);
      for (let i = 1; i < pings.length; i++) {
        expect(pings[i]! - pings[i - 1]!).toBeGreaterThan(600);
        expect(pings[i]! - pings[i - 1]!).toBeLessThan(2000); // inside WatchdogSec
      }
      expect(pings[0]!).toBeGreaterThanOrEqual(ready.at);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const stopping = notify.with('STOPPING=1');
      expect(stopping).toHaveLength(1);
      const after = notify.messages.filter((m) => m.at > stopping[0]!.at && m.fields.includes('WATCHDOG=1'));
      expect(after).toEqual([]);
    } finally {
      notify.close();
    }
  });

  test('on the journal stream every log line carries its priority, and the secrets stay out of it', async () => {
    const config = writeConfig('journal');
    const { child, streamFile, exited } = startOnJournal(config, { M2M_LOG_LEVEL: 'debug' });
    await waitFor(() => (/running; API/.test(fs.readFileSync(streamFile, 'utf8')) ? true : undefined), 'the API URL', 30_000);
    // the offline device (nothing on port 1) logs at warn, start-up at info and debug
    await waitFor(() => (/^<4>\{"level":40/m.test(fs.readFileSync(streamFile, 'utf8')) ? true : undefined), 'a warning', 15_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const lines = fs
      .readFileSync(streamFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const json = lines.filter((l) => /^<\d>\{/.test(l));
    expect(json.length).toBeGreaterThan(3);
    for (const l of json) {
      const level = (JSON.parse(l.slice(3)) as { level: number }).level;
      expect(Number(l[1])).toBe(level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7);
    }
    expect(json.some((l) => l.startsWith('<6>'))).toBe(true);
    expect(json.some((l) => l.startsWith('<7>'))).toBe(true);
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]); // no log line without a priority

    // docs/architecture.md §8: generated secrets go to a terminal only, never into the journal
    const secrets = JSON.parse(fs.readFileSync(path.join(path.dirname(config), 'm2m-data', 'secrets.json'), 'utf8')) as Record<
      string,
      string
    >;
    const text = lines.join('\n');
    expect(text).toMatch(/Generated credentials into .*secrets\.json/);
    expect(text).not.toContain(secrets.adminToken);
    expect(text).not.toContain(secrets.editorPassword);
  });

  test('an invalid M2M_LOG_LEVEL exits 2 (no restart loop) with the error at priority err', async () => {
    const config = writeConfig('bad-level');
    const { streamFile, exited } = startOnJournal(config, { M2M_LOG_LEVEL: 'verbose' });
    expect(await exited).toBe(2);
    const text = fs.readFileSync(streamFile, 'utf8');
    expect(text).toBe(
      '<3>config error (environment):\n<3>M2M_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"\n',
    );
    // config check (what an operator runs first) says the same
    const check = await runCli(['config', 'check', '--config', config], { env: { M2M_LOG_LEVEL: 'verbose' } });
    expect(check.code).toBe(2);
    expect(check.stderr).toMatch(/^config error \(environment\):\nM2M_LOG_LEVEL: expected one of/);
  });

  test('init writes the $schema modeline of this install, naming a schema file that exists', async () => {
    const file = path.join(root, 'init', 'm2m-gateway.yaml');
    const r = await runCli(['init', '--config', file]);
    expect(r.code).toBe(0);
    const first = fs.readFileSync(file, 'utf8').split('\n')[0]!;
    const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(path.join(REPO_ROOT, 'docs', 'm2m-gateway.schema.json'));
    expect((JSON.parse(fs.readFileSync(m![1]!, 'utf8')) as { $schema: string }).$schema).toMatch(/json-schema\.org/);
  });
});
