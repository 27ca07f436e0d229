/**
 * The package as a gateway gets it (README "Install on a gateway"): `npm pack`,
 * then `npm install -g --omit=dev --prefix <prefix> <tarball>` (production
 * dependencies only, no build step: better-sqlite3 compiles from source when
 * no prebuilt binary fits, about 70 s), then `init`, `config check`, `start`
 * until /api/health answers, `ledger verify` and a clean stop on SIGTERM, all
 * from the installed `<prefix>/bin/m2m-gateway`, run outside the repository.
 *
 * Needs the build (`npm test` builds first) and the npm registry or a warm npm cache.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, killAllProcesses, requireBuild, waitFor } from '../helper/daemon-process';

interface PackedFile {
  path: string;
  size: number;
}
interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: PackedFile[];
}
interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  main: string;
  exports: Record<string, string>;
  bin: Record<string, string>;
  files: string[];
  devDependencies: Record<string, string>;
  dependencies: Record<string, string>;
}

const PKG = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;
const INSTALL_TIMEOUT_MS = 15 * 60_000;
/** Dependencies whose install scripts must run (npm 12 blocks unlisted ones; npm 11 warns). */
const ALLOW_SCRIPTS = 'better-sqlite3,@serialport/bindings-cpp';

let tmp: string;
let packed: PackResult;
let tarball: string;
let prefix: string;
let installedDir: string;
let bin: string;
/** The node running this test first on PATH: the installed bin's `#!/usr/bin/env node` finds it. */
let env: NodeJS.ProcessEnv;

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? tmp, env, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  requireBuild();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-install-'));
  env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
  delete env.M2M_LOG_LEVEL;
  delete env.NOTIFY_SOCKET;
  delete env.JOURNAL_STREAM;
  const out = ok(run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT, timeoutMs: 120_000 }), 'npm pack');
  packed = (JSON.parse(out.slice(out.indexOf('['))) as PackResult[])[0]!;
  tarball = path.join(tmp, packed.filename);
});

afterAll(async () => {
  await killAllProcesses();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  test('the package is publishable: not private, main/exports/bin inside the package', () => {
    expect(PKG.private).toBeUndefined();
    const paths = new Set(packed.files.map((f) => f.path));
    expect(paths.has(PKG.main)).toBe(true);
    for (const target of Object.values(PKG.exports)) expect(paths.has(target.replace(/^\.\//, ''))).toBe(true);
    for (const target of Object.values(PKG.bin)) expect(paths.has(target)).toBe(true);
  });

  test('ships the build, core.wasm, profiles, the Node-RED nodes and default flows, the schema, docs and deploy/', () => {
    const paths = packed.files.map((f) => f.path);
    for (const must of [
      'build/gateway/cli/main.js',
      'build/gateway/index.js',
      'build/core.wasm',
      'flows/package.json',
      'flows/default-flows.json',
      'flows/nodes/m2m-tariff.js',
      'flows/nodes/m2m-tariff.html',
      'docs/m2m-gateway.schema.json',
      'docs/config.md',
      'deploy/m2m-gateway.service',
      'deploy/m2m-gateway.example.yaml',
      'README.md',
      'CHANGELOG.md',
    ]) {
      expect(paths).toContain(must);
    }
    // the built-in device profiles (JSON data next to the compiled profile library)
    for (const profile of ['eastron-sdm630', 'dsmr-5', 'generic']) {
      expect(paths.filter((p) => p.startsWith('build/gateway/') && p.endsWith(`/profiles/${profile}.json`))).toHaveLength(1);
    }
  });

  test('ships no tests, benchmarks, sources, source maps, tarballs or build tooling', () => {
    const unwanted = packed.files
      .map((f) => f.path)
      .filter(
        (p) =>
          /^(test|bench|gateway|assembly|node_modules|build\/test|build\/bench)\//.test(p) ||
          /\.(map|ts|tgz|wat)$/.test(p) ||
          /^(tsconfig|jest|asconfig)/.test(p),
      );
    expect(unwanted).toEqual([]);
    // a second `npm pack` must not swallow the first tarball
    expect(packed.files.filter((f) => f.path.endsWith('.tgz'))).toEqual([]);
    // small enough for a gateway: the tarball stays well under 1 MB
    expect(packed.size).toBeLessThan(1_000_000);
  });
});

describe('global install with production dependencies only, then the CLI from the install', () => {
  beforeAll(() => {
    prefix = path.join(tmp, 'prefix');
    const started = Date.now();
    const install = run(
      'npm',
      [
        'install',
        '-g',
        '--omit=dev',
        `--allow-scripts=${ALLOW_SCRIPTS}`,
        '--prefix',
        prefix,
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        tarball,
      ],
      { timeoutMs: INSTALL_TIMEOUT_MS },
    );
    ok(install, 'npm install -g');
    // the documented command covers every install script (npm 11 warns about the others, npm 12 skips them)
    expect(install.stderr).not.toMatch(/not yet covered by allowScripts|install scripts? (were|was) skipped/i);
    process.stderr.write(`package-install: npm install -g took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    installedDir = path.join(prefix, 'lib', 'node_modules', PKG.name);
    bin = path.join(prefix, 'bin', 'm2m-gateway');
  }, INSTALL_TIMEOUT_MS + 10_000);

  test('installs the bin and the runtime dependencies, and no development dependency', () => {
    expect(fs.existsSync(bin)).toBe(true);
    expect(ok(run(bin, ['--version']), 'm2m-gateway --version').trim()).toBe(PKG.version);
    const modules = path.join(installedDir, 'node_modules');
    for (const dep of Object.keys(PKG.dependencies)) {
      const installed = JSON.parse(fs.readFileSync(path.join(modules, dep, 'package.json'), 'utf8')) as { version: string };
      expect(`${dep}@${installed.version}`).toBe(`${dep}@${PKG.dependencies[dep]}`); // pinned versions
    }
    // Development-only packages (the lock marks them "dev"; some @types come with runtime dependencies) stay out.
    const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.keys(PKG.devDependencies).filter((d) => lock.packages[`node_modules/${d}`]?.dev === true);
    expect(devOnly.filter((d) => fs.existsSync(path.join(modules, d)))).toEqual([]);
    // and no build tooling at all: no compiler step on the device
    expect(
      ['typescript', 'assemblyscript', '@swc/core', 'jest', 'playwright-core'].filter((d) => fs.existsSync(path.join(modules, d))),
    ).toEqual([]);
  });

  test('require("m2m-gateway") loads the public API without starting anything', () => {
    const script = `
      const m = require(${JSON.stringify(installedDir)});
      const schema = require(require.resolve('m2m-gateway/schema.json', { paths: [${JSON.stringify(path.join(prefix, 'lib'))}] }));
      console.log(JSON.stringify({ keys: Object.keys(m).sort(), version: m.packageVersion(), schema: typeof schema.properties }));`;
    const out = JSON.parse(ok(run(process.execPath, ['-e', script]), 'require')) as { keys: string[]; version: string; schema: string };
    expect(out.version).toBe(PKG.version);
    expect(out.schema).toBe('object');
    expect(out.keys).toEqual(expect.arrayContaining(['Gateway', 'loadConfig', 'parseConfig', 'ConfigError', 'checkVoucher']));
  });

  test('init, config check, start until /api/health answers, ledger verify, SIGTERM exits 0', async () => {
    const etc = path.join(tmp, 'etc');
    const config = path.join(etc, 'm2m-gateway.yaml');
    ok(run(bin, ['init', '--config', config]), 'init');
    const text = fs.readFileSync(config, 'utf8');
    // the modeline names the schema inside this install
    expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=${path.join(installedDir, 'docs', 'm2m-gateway.schema.json')}`);
    expect(fs.existsSync(path.join(installedDir, 'docs', 'm2m-gateway.schema.json'))).toBe(true);
    fs.writeFileSync(config, text.replace('listen: 127.0.0.1:8080', 'listen: 127.0.0.1:0').replace('port: 502 }', 'port: 1 }'));

    const check = run(bin, ['config', 'check', '--config', config]);
    expect({ code: check.status, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(/OK/);

    const child = spawn(bin, ['start', '--config', config], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await waitFor(
        () => /running; API (http:\/\/\S+)/.exec(stdout)?.[1],
        () => `the API URL\nstdout: ${stdout}\nstderr: ${stderr}`,
        60_000,
      );
      const healthBody = await waitFor(
        async () => {
          const res = await fetch(`${url}/api/health`);
          return res.status === 200 ? ((await res.json()) as { status: string; version: string }) : undefined;
        },
        '/api/health',
        15_000,
      );
      expect(healthBody.version).toBe(PKG.version);
      expect(healthBody.status).toBeDefined();
      // the policy editor (Node-RED, a runtime dependency) is served from the install
      const editor = await fetch(`${url}/admin/`);
      await editor.arrayBuffer();
      expect(editor.status).toBeLessThan(500);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/"level":[56]0/); // no error or fatal log line

    const verify = run(bin, ['ledger', 'verify', '--config', config]);
    expect({ code: verify.status, stderr: verify.stderr }).toEqual({ code: 0, stderr: '' });
  }, 120_000);
});
