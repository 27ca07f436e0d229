/**
 * What the embedded Node-RED editor costs at start: time until
 * Gateway.start() resolves (from process start, module loading included, and
 * Gateway.start alone) and resident memory, with `http.editor` true against
 * false, each run in a fresh process with the demo policies and one device.
 * Writes bench/results/editor-startup.json.
 *
 *   npm run build && npm run build:bench && node build/bench/editor-startup.js [--runs N] [--out FILE]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../gateway/config/load';
import { Gateway } from '../gateway/daemon/gateway';
import { silentLogger } from '../gateway/base/log';
import { packageRoot } from '../gateway/base/package-root';

interface Sample {
  editor: boolean;
  /** ms from process start until Gateway.start() resolved. */
  readyMs: number;
  /** ms spent in Gateway.start(). */
  startMs: number;
  /** RSS right after start, MiB. */
  rssMiB: number;
  /** RSS after the editor page was served once (editor only) and 2 s idle, MiB. */
  rssSettledMiB: number;
  heapUsedMiB: number;
}

const MiB = 1024 * 1024;
const round1 = (x: number): number => Math.round(x * 10) / 10;

async function child(editor: boolean, dataDir: string): Promise<void> {
  fs.copyFileSync(path.join(packageRoot(), 'flows', 'default-flows.json'), path.join(dataDir, 'flows.json'));
  const cfg = parseConfig(
    `version: 1
gateway: { id: bench, dataDir: ., timezone: Europe/Oslo }
http: { listen: "127.0.0.1:0", editor: ${editor} }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: 1, timeoutMs: 200 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 1000
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint16, unit: "%" }
`,
    dataDir,
  );
  const t0 = performance.now();
  const gw = await Gateway.start(cfg, silentLogger());
  const startMs = performance.now() - t0;
  const readyMs = performance.now(); // performance.now() counts from process start
  const rss = process.memoryUsage().rss;
  if (editor) await (await fetch(gw.editorUrl)).text();
  await new Promise((r) => setTimeout(r, 2000));
  const mem = process.memoryUsage();
  await gw.stop();
  const sample: Sample = {
    editor,
    readyMs: Math.round(readyMs),
    startMs: Math.round(startMs),
    rssMiB: round1(rss / MiB),
    rssSettledMiB: round1(mem.rss / MiB),
    heapUsedMiB: round1(mem.heapUsed / MiB),
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    void child(argv[1] === 'true', argv[2]).catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    });
    return;
  }
  let runs = 3;
  let out = path.resolve(__dirname, '..', '..', 'bench', 'results', 'editor-startup.json');
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--runs') runs = Number(argv[i + 1]);
    else if (argv[i] === '--out') out = path.resolve(argv[i + 1]);
  }
  const samples: Sample[] = [];
  for (let r = 0; r < runs; r++) {
    for (const editor of [false, true]) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-bench-editor-'));
      try {
        const line = execFileSync(process.execPath, [__filename, '--child', String(editor), dataDir], { encoding: 'utf8' });
        samples.push(JSON.parse(line.trim().split('\n').pop() as string) as Sample);
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  const summary = (editor: boolean) => {
    const s = samples.filter((x) => x.editor === editor);
    return {
      editor,
      runs: s.length,
      readyMs: median(s.map((x) => x.readyMs)),
      startMs: median(s.map((x) => x.startMs)),
      rssMiB: median(s.map((x) => x.rssMiB)),
      rssSettledMiB: median(s.map((x) => x.rssSettledMiB)),
      heapUsedMiB: median(s.map((x) => x.heapUsedMiB)),
    };
  };
  const result = {
    bench: 'editor-startup',
    node: process.version,
    cpus: os.cpus().length,
    at: new Date().toISOString(),
    withoutEditor: summary(false),
    withEditor: summary(true),
    samples,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ withoutEditor: result.withoutEditor, withEditor: result.withEditor }, null, 2)}\n`);
}

main();
