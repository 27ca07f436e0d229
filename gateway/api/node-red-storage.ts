/**
 * Node-RED's own file storage (localfilesystem), with the files that hold
 * secrets kept private: login sessions (`<userDir>/.sessions.json`), the
 * encrypted node credentials (`flows_cred.json` beside the flows file) and
 * the runtime settings (`<userDir>/.config.*.json`) are set to 0600 after
 * every save and at start (a file left 0644 by an older version is
 * repaired), and the user folder to 0700 (base/private-files.ts).
 * Node-RED writes them through a temp file whose mode follows the umask, so
 * they are tightened right after; the 0700 folder keeps them out of reach
 * meanwhile.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRIVATE_DIR_MODE, repairExposed } from '../base/private-files';

type StorageFn = (...args: unknown[]) => Promise<unknown>;

/** The storage module to pass as Node-RED's `storageModule` setting. */
export function privateNodeRedStorage(userDir: string, flowsFile: string): Record<string, unknown> {
  const base = loadLocalFilesystem();
  const credFile = path.join(
    path.dirname(flowsFile),
    `${path.basename(flowsFile, path.extname(flowsFile))}_cred${path.extname(flowsFile) || '.json'}`,
  );
  const tighten = (): void => {
    tightenFile(userDir, PRIVATE_DIR_MODE);
    let names: string[] = [];
    try {
      names = fs.readdirSync(userDir);
    } catch {
      // no folder yet: nothing to tighten
    }
    for (const n of names) if (n === '.sessions.json' || /^\.config\..*\.json$/.test(n)) tightenFile(path.join(userDir, n));
    tightenFile(credFile);
  };
  const after =
    (name: string): StorageFn =>
    async (...args: unknown[]) => {
      const result = await (base[name] as StorageFn).apply(base, args);
      tighten();
      return result;
    };
  return {
    ...base,
    init: after('init'),
    saveSessions: after('saveSessions'),
    saveCredentials: after('saveCredentials'),
    saveSettings: after('saveSettings'),
  };
}

function tightenFile(file: string, mode?: number): void {
  try {
    const st = fs.lstatSync(file);
    if (st.isSymbolicLink()) return;
    repairExposed(file, st.mode, mode);
  } catch {
    // missing (not written yet) or not ours to change: Node-RED reports real failures itself
  }
}

function loadLocalFilesystem(): Record<string, unknown> {
  const file = require.resolve('@node-red/runtime/lib/storage/localfilesystem', {
    paths: [path.dirname(require.resolve('node-red/package.json'))],
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as Record<string, unknown>;
}
