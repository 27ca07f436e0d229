/** The shipped deploy/ files stay valid and in step with the code. */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXAMPLE_CONFIG, INSTALLED_PACKAGE_DIR, schemaFileIn } from '../../gateway/config/example';
import { parseConfig } from '../../gateway/config/load';

const ROOT = path.resolve(__dirname, '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');
const UNIT_FILE = path.join(DEPLOY, 'm2m-gateway.service');
/** The install prefix the unit and the README use (`npm install -g --prefix /opt/m2m-gateway`). */
const PREFIX = '/opt/m2m-gateway';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

function unitText(): string {
  return fs.readFileSync(UNIT_FILE, 'utf8');
}

/** Values of `Key=` in the unit, in order (comments skipped). */
function directive(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe('deploy/', () => {
  it("the example config is `init`'s example with the system data dir, and it loads", () => {
    const text = fs.readFileSync(path.join(DEPLOY, 'm2m-gateway.example.yaml'), 'utf8');
    expect(text).toBe(EXAMPLE_CONFIG.replace('dataDir: ./m2m-data ', 'dataDir: /var/lib/m2m-gateway'));
    expect(parseConfig(text, '/etc/m2m-gateway').gateway.dataDir).toBe('/var/lib/m2m-gateway');
  });

  it('the example config starts with the modeline naming the installed JSON Schema', () => {
    const text = fs.readFileSync(path.join(DEPLOY, 'm2m-gateway.example.yaml'), 'utf8');
    expect(INSTALLED_PACKAGE_DIR).toBe(`${PREFIX}/lib/node_modules/m2m-gateway`);
    expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=${schemaFileIn(INSTALLED_PACKAGE_DIR)}`);
    expect(fs.existsSync(path.join(ROOT, 'docs', 'm2m-gateway.schema.json'))).toBe(true);
  });

  it('the systemd unit runs the installed CLI, which validates the config itself, and does not restart on a bad config', () => {
    const unit = unitText();
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['m2m-gateway']).toBe('build/gateway/cli/main.js'); // what <prefix>/bin/m2m-gateway links to
    expect(directive(unit, 'ExecStart')).toEqual([`${PREFIX}/bin/m2m-gateway start --config /etc/m2m-gateway/m2m-gateway.yaml`]);
    // systemd applies RestartPreventExitStatus= to the main process only: a config check in
    // ExecStartPre that fails with 2 would be restarted in a loop. `start` checks the config first.
    expect(directive(unit, 'ExecStartPre')).toEqual([]);
    expect(directive(unit, 'Restart')).toEqual(['on-failure']);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
    expect(unit).toMatch(/^UMask=0077$/m);
  });

  it('the unit is Type=notify with a watchdog, and allows every kind of serial port', () => {
    const unit = unitText();
    expect(directive(unit, 'Type')).toEqual(['notify']);
    expect(directive(unit, 'NotifyAccess')).toEqual(['all']); // systemd-notify is a child process
    expect(directive(unit, 'WatchdogSec')).toEqual(['30s']);
    expect(directive(unit, 'DevicePolicy')).toEqual(['closed']);
    const allowed = directive(unit, 'DeviceAllow');
    for (const tty of ['ttyUSB', 'ttyACM', 'ttyS', 'ttyAMA', 'ttySC', 'ttymxc']) expect(allowed).toContain(`char-${tty} rw`);
    expect(directive(unit, 'StateDirectory')).toEqual(['m2m-gateway']);
  });

  describe('with systemd-analyze', () => {
    let dir: string;
    let unitCopy: string;
    beforeAll(() => {
      if (!fs.existsSync(SYSTEMD_ANALYZE)) {
        throw new Error(`${SYSTEMD_ANALYZE} is missing: run \`bash test/install-peers.sh\` (Debian package systemd)`);
      }
      // verify checks that ExecStart's binary exists and is executable: lay out the install prefix in a temp folder.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-unit-'));
      fs.mkdirSync(path.join(dir, 'bin'));
      fs.writeFileSync(path.join(dir, 'bin', 'm2m-gateway'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      unitCopy = path.join(dir, 'm2m-gateway.service');
      fs.writeFileSync(unitCopy, unitText().split(`${PREFIX}/`).join(`${dir}/`));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('systemd-analyze verify finds nothing to complain about', () => {
      const r = spawnSync(SYSTEMD_ANALYZE, ['verify', unitCopy], { encoding: 'utf8' });
      expect({ code: r.status, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 0, stderr: '', stdout: '' });
    });

    it('the unit in deploy/ only differs from the verified copy by the install prefix', () => {
      expect(fs.readFileSync(unitCopy, 'utf8').split(`${dir}/`).join(`${PREFIX}/`)).toBe(unitText());
    });

    it('systemd-analyze security rates the exposure at most 2.0', () => {
      const out = execFileSync(SYSTEMD_ANALYZE, ['security', '--offline=true', '--no-pager', unitCopy], { encoding: 'utf8' });
      const m = /Overall exposure level for m2m-gateway\.service: (\d+\.\d) (\w+)/.exec(out);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeLessThanOrEqual(2.0);
      expect(m![2]).toBe('OK');
    });
  });
});
