/** Coded errors of the ledger (gateway/ledger). */
import { GatewayError } from '../base/errors';

/** A batch (or voucher, or policy) with a malformed field: nothing was committed. */
export class LedgerBatchError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_LEDGER_BATCH', message);
  }
}

/** A voucher whose seq does not increase or whose amount decreases on its channel: nothing was committed. */
export class LedgerVoucherError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_LEDGER_VOUCHER', message);
  }
}

/** A policy version that does not increase: nothing was committed. */
export class LedgerPolicyError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_LEDGER_POLICY', message);
  }
}

/** The database file has a schema this build does not know (newer gateway, or not a ledger). */
export class LedgerSchemaError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_LEDGER_SCHEMA', message);
  }
}

/** The ledger file could not be opened or created. */
export class LedgerOpenError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('GW_ERR_LEDGER_OPEN', message, { cause });
  }
}

/** A query with a malformed filter. */
export class LedgerQueryError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_LEDGER_QUERY', message);
  }
}

/** A call on a closed ledger. */
export class LedgerClosedError extends GatewayError {
  constructor() {
    super('GW_ERR_LEDGER_CLOSED', 'the ledger is closed');
  }
}

/** A row names a batch body that does not hold what it should (the file was altered or damaged outside the gateway). */
export class LedgerDamagedError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_LEDGER_DAMAGED', message);
  }
}
