/** The published JSON Schema (docs/m2m-gateway.schema.json) is the one the code generates. */
import fs from 'node:fs';
import path from 'node:path';
import { configJsonSchema } from '../../gateway/config/json-schema';

it('docs/m2m-gateway.schema.json is up to date (regenerate: m2m-gateway config schema > docs/m2m-gateway.schema.json)', () => {
  const file = path.resolve(__dirname, '..', '..', 'docs', 'm2m-gateway.schema.json');
  expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(configJsonSchema());
});
