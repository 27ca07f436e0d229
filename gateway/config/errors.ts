/**
 * Configuration errors. A bad config is reported whole: every problem with
 * the path it sits at (`devices[0].points[2].type`), never just the first.
 */
import { GatewayError } from '../base/errors';

export interface ConfigIssue {
  /** Where the problem is: `gateway.timezone`, `devices[0].points[2].type`; "" for the file as a whole. */
  path: string;
  message: string;
  /** 1-based line in the YAML file, when the path could be located there. */
  line?: number;
  column?: number;
}

/** One issue per line: `path: message (line N)`. */
export function formatConfigIssues(issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => {
      const where = i.line !== undefined ? ` (line ${i.line}${i.column !== undefined ? `, column ${i.column}` : ''})` : '';
      return `${i.path ? `${i.path}: ` : ''}${i.message}${where}`;
    })
    .join('\n');
}

export class ConfigError extends GatewayError {
  readonly issues: ConfigIssue[];
  /** The config file, when the config came from one. */
  readonly file: string | undefined;
  constructor(issues: ConfigIssue[], file?: string) {
    const n = issues.length;
    super(
      'GW_ERR_CONFIG',
      `invalid configuration${file ? ` ${file}` : ''} (${n} problem${n === 1 ? '' : 's'}):\n${formatConfigIssues(issues)}`,
    );
    this.issues = issues;
    this.file = file;
  }
}

/** A device profile (gateway/config/profiles/*.json) is unknown or malformed. */
export class ProfileError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_PROFILE', message);
  }
}
