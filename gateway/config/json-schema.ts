/**
 * The JSON Schema of `m2m-gateway.yaml`, generated from the zod schema, for
 * editors (YAML language server: `# yaml-language-server: $schema=…`).
 * It describes what one field may hold; cross-field rules (links referenced
 * by devices, profile merging, widths) are only checked by the loader.
 */
import { z } from 'zod';
import { configSchema } from './schema';

export const CONFIG_SCHEMA_ID = 'https://m2m-gateway.dev/schema/m2m-gateway.config.json';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { ...schema, $id: CONFIG_SCHEMA_ID };
}
