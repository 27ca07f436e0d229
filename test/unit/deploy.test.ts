/** The shipped deploy/ files stay valid and in step with the code. */
import fs from 'node:fs';
import path from 'node:path';
import { EXAMPLE_CONFIG, INSTALLED_PACKAGE_DIR, schemaFileIn } from '../../gateway/config/example';
import { parseConfig } from '../../gateway/config/load';

const DEPLOY = path.resolve(__dirname, '..', '..', 'deploy');

describe('deploy/', () => {
  it('the example config is `init`\'s example with the system data dir, and it loads', () => {
    const text = fs.readFileSync(path.join(DEPLOY, 'm2m-gateway.example.yaml'), 'utf8');
    expect(text).toBe(EXAMPLE_CONFIG.replace('dataDir: ./m2m-data ', 'dataDir: /var/lib/m2m-gateway'));
    expect(parseConfig(text, '/etc/m2m-gateway').gateway.dataDir).toBe('/var/lib/m2m-gateway');
  });

  it('the example config starts with the modeline naming the installed JSON Schema', () => {
    const text = fs.readFileSync(path.join(DEPLOY, 'm2m-gateway.example.yaml'), 'utf8');
    expect(INSTALLED_PACKAGE_DIR).toBe('/opt/m2m-gateway/lib/node_modules/m2m-gateway');
    expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=${schemaFileIn(INSTALLED_PACKAGE_DIR)}`);
    expect(fs.existsSync(path.resolve(DEPLOY, '..', 'docs', 'm2m-gateway.schema.json'))).toBe(true);
  });

  it('the systemd unit runs the built CLI, checks the config first and does not restart on a bad config', () => {
    const unit = fs.readFileSync(path.join(DEPLOY, 'm2m-gateway.service'), 'utf8');
    expect(unit).toMatch(/^ExecStartPre=.*build\/gateway\/cli\/main\.js config check --config /m);
    expect(unit).toMatch(/^ExecStart=.*build\/gateway\/cli\/main\.js start --config /m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
    expect(unit).toMatch(/^UMask=0077$/m);
  });
});
