/**
 * The one place that turns a link's config into a driver. The controller
 * asks here and knows nothing of link types beyond Modbus vs P1.
 * Every Modbus link enforces its own wire timing (RTU t3.5 lives in
 * ModbusRtuLink), so a bus queue needs no options.
 */
import type { LinkConfig } from '../config/load';
import type { Logger } from '../base/log';
import type { ModbusLink } from '../links/link';
import { ModbusRtuLink } from '../links/modbus-rtu';
import { ModbusTcpLink } from '../links/modbus-tcp';
import { RtuOverTcpLink } from '../links/rtu-over-tcp';

/** A Modbus driver for the link, or null for a link type that is not Modbus (dsmr-p1). */
export function createModbusLink(lc: LinkConfig, log: Logger): ModbusLink | null {
  switch (lc.type) {
    case 'modbus-tcp':
      return new ModbusTcpLink({ id: lc.id, host: lc.host, port: lc.port, timeoutMs: lc.timeoutMs }, log);
    case 'modbus-rtu':
      return new ModbusRtuLink(
        {
          id: lc.id,
          path: lc.path,
          baudRate: lc.baudRate,
          parity: lc.parity,
          dataBits: lc.dataBits,
          stopBits: lc.stopBits,
          timeoutMs: lc.timeoutMs,
        },
        log,
      );
    case 'rtu-over-tcp':
      return new RtuOverTcpLink({ id: lc.id, host: lc.host, port: lc.port, timeoutMs: lc.timeoutMs }, log);
    case 'dsmr-p1':
      return null;
  }
}
