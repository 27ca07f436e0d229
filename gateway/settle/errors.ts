/** Coded errors of settlement (gateway/settle): payer keys and vouchers. */
import { GatewayError } from '../base/errors';

/** A payer key file cannot be created, read, parsed, or made private (mode 0600). */
export class SettleKeyError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('GW_ERR_SETTLE_KEY', message, { cause });
  }
}

/** A voucher cannot be issued: its fields would break the voucher format (docs/architecture.md §6). */
export class VoucherIssueError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_SETTLE_VOUCHER', message);
  }
}
