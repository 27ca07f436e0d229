/**
 * Coded errors of the command line. A usage error is the user's command
 * line, not the config file and not the field bus: commands report it with
 * exit code 2 (EXIT_CONFIG) and a hint to run --help.
 */
import { GatewayError } from '../base/errors';

/** An option is missing, malformed, out of range, or conflicts with another. */
export class CliUsageError extends GatewayError {
  /** The option it is about ("--unit"), or "" for the command line as a whole. */
  readonly option: string;
  constructor(option: string, message: string) {
    super('GW_ERR_USAGE', option ? `${option}: ${message}` : message);
    this.option = option;
  }
}
