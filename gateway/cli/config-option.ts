import path from 'node:path';
import { DEFAULT_CONFIG_FILE } from '../config/load';

export const CONFIG_OPTION = ['-c, --config <file>', `configuration file`, DEFAULT_CONFIG_FILE] as const;

export function configPath(opts: { config?: string }): string {
  return path.resolve(opts.config ?? DEFAULT_CONFIG_FILE);
}
