/** Coded errors of the MQTT uplink and its outbox (gateway/uplink). */
import { GatewayError } from '../base/errors';

/** `<dataDir>/outbox.db` cannot be created or opened (permissions, full disk, not an outbox). */
export class OutboxOpenError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('GW_ERR_OUTBOX_OPEN', message, cause === undefined ? undefined : { cause });
  }
}

/** The outbox was used after `close()`. */
export class OutboxClosedError extends GatewayError {
  constructor() {
    super('GW_ERR_OUTBOX_CLOSED', 'the outbox is closed');
  }
}

/** `mqtt.passwordFile` cannot be read, is empty, or is readable by other users (must be mode 0600). */
export class MqttPasswordFileError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('GW_ERR_MQTT_PASSWORD_FILE', message, cause === undefined ? undefined : { cause });
  }
}
