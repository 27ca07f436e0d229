import fs from 'node:fs';
import path from 'node:path';

let cached: string | null = null;

/**
 * The folder holding m2m-gateway's package.json, found by walking up from this
 * file: works from the sources (jest) and from build/ alike. Shipped data
 * (build/core.wasm, flows/, profiles) is located from here.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'm2m-gateway') return (cached = dir);
      } catch {
        // not ours; keep walking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package.json of m2m-gateway not found above ${__dirname}`);
    dir = up;
  }
}

export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
