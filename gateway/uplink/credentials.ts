/**
 * The MQTT password comes from a file (`mqtt.passwordFile`), never from the
 * config itself. Like ssh with its keys, the gateway refuses a file other users
 * can read: it must be mode 0600 (or stricter).
 */
import * as fs from 'node:fs';
import { isExposed, permissionBits } from '../base/private-files';
import { MqttPasswordFileError } from './errors';

/** The password in `file` (one trailing newline removed). Throws MqttPasswordFileError. */
export function readPasswordFile(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new MqttPasswordFileError(`mqtt.passwordFile ${file}: ${(err as Error).message}`, err);
  }
  if (!st.isFile()) throw new MqttPasswordFileError(`mqtt.passwordFile ${file} is not a regular file`);
  const mode = permissionBits(st.mode);
  if (isExposed(mode)) {
    throw new MqttPasswordFileError(
      `mqtt.passwordFile ${file} has mode 0${mode.toString(8)}: other users can access it; run \`chmod 600 ${file}\``,
    );
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MqttPasswordFileError(`mqtt.passwordFile ${file}: ${(err as Error).message}`, err);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password.length === 0) throw new MqttPasswordFileError(`mqtt.passwordFile ${file} is empty`);
  return password;
}
