/** `m2m-gateway init`: write the commented example config (never overwrites without --force), validated in editors against this install's JSON Schema. */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../base/package-root';
import { exampleConfig, schemaFileIn } from '../config/example';
import { EXIT_CONFIG, EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export async function initCommand(opts: { config?: string; force?: boolean }): Promise<number> {
  const file = configPath(opts);
  if (fs.existsSync(file) && !opts.force) {
    process.stderr.write(`${file} exists; not overwriting it (use --force)\n`);
    return EXIT_CONFIG;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, exampleConfig(schemaFileIn(packageRoot())), { mode: 0o644 }); // modeline: this install's schema
  process.stdout.write(`wrote ${file}\nnext: m2m-gateway config check --config ${path.relative(process.cwd(), file) || file}\n`);
  return EXIT_OK;
}
