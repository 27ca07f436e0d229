/**
 * The error-code table (gateway/base/error-codes.ts, as fastify's lib/errors.js)
 * and docs/errors.md list the same codes; each error class carries a code of
 * the table, and its row in docs/errors.md names the class (and the HTTP
 * status for the API's errors). Codes are unique because they are the keys of
 * one object; a code outside the table does not compile (checked below by
 * `tsc -p tsconfig.test.json`, part of `npm test`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiError, BadRequestError, BodyTooLargeError, ForbiddenError, InternalError, InvalidValueError } from '../../gateway/api/errors';
import { MalformedJsonError, MethodNotAllowedError, RouteNotFoundError, SecretsError, UnauthorizedError } from '../../gateway/api/errors';
import { UnavailableError, UnknownDeviceError, UnknownPointError, UnsupportedMediaTypeError } from '../../gateway/api/errors';
import { EditorOwnsFlowsError, PoliciesRejectedError, UpgradeRequiredError, WriteFailedError } from '../../gateway/api/errors';
import * as apiErrors from '../../gateway/api/errors';
import { DecimalError } from '../../gateway/base/decimal';
import { ERROR_CODES, type ErrorArea, type ErrorCode } from '../../gateway/base/error-codes';
import { GatewayError, GatewayStartError, MetricsError } from '../../gateway/base/errors';
import { CliUsageError } from '../../gateway/cli/errors';
import { ConfigError, ProfileError } from '../../gateway/config/errors';
import { CoreConfigError, CoreLoadError, CorePolicyError, CoreSettleError, CoreStateError } from '../../gateway/core/errors';
import {
  CounterTypeError,
  DecodeError,
  EncodeError,
  EncodeInexactError,
  EncodeRangeError,
  EncodeValueError,
} from '../../gateway/devices/errors';
import { LedgerBatchError, LedgerClosedError, LedgerDamagedError, LedgerOpenError, LedgerPolicyError } from '../../gateway/ledger/errors';
import { LedgerQueryError, LedgerSchemaError, LedgerVoucherError } from '../../gateway/ledger/errors';
import { LinkDownError, LinkOptionsError, ModbusExceptionError, ModbusProtocolError } from '../../gateway/links/errors';
import { ModbusRequestError, ModbusTimeoutError } from '../../gateway/links/errors';
import { P1ClosedError, P1OptionsError, P1PortError, P1TelegramError } from '../../gateway/links/p1-errors';
import { PolicyError } from '../../gateway/policy/errors';
import * as pollErrors from '../../gateway/poll/errors';
import { SettleKeyError, VoucherIssueError } from '../../gateway/settle/errors';
import { MqttPasswordFileError, OutboxClosedError, OutboxOpenError } from '../../gateway/uplink/errors';

const ROOT = path.resolve(__dirname, '..', '..');
const ERRORS_DOC = 'docs/errors.md';
const docText = fs.readFileSync(path.join(ROOT, ERRORS_DOC), 'utf8');
const TABLE_CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** The docs/errors.md section each area's codes are listed under. */
const SECTIONS: Record<ErrorArea, string> = {
  daemon: 'Daemon',
  base: 'Ground floor (`gateway/base`)',
  config: 'Configuration (`gateway/config`)',
  cli: 'Command line (`gateway/cli`)',
  policy: 'Policies (`gateway/policy`)',
  core: 'Metering core (`gateway/core`)',
  ledger: 'Ledger (`gateway/ledger`)',
  links: 'Links: Modbus (`gateway/links`)',
  p1: 'Links: DSMR P1 (`gateway/links/p1-errors.ts`)',
  devices: 'Devices: decoding and encoding (`gateway/devices`)',
  poll: 'Polling and writes (`gateway/poll`)',
  api: 'HTTP API (`gateway/api`)',
  settle: 'Settlement (`gateway/settle`)',
  uplink: 'MQTT uplink (`gateway/uplink`)',
};

interface DocRow {
  code: string;
  cells: string[];
  section: string;
  line: number;
}

/** Table rows of docs/errors.md whose first cell is a code in backticks, with the `## ` section they sit in. */
function docRows(text: string): DocRow[] {
  const rows: DocRow[] = [];
  let section = '';
  text.split('\n').forEach((raw, i) => {
    if (raw.startsWith('## ')) section = raw.slice(3).trim();
    if (!raw.trimStart().startsWith('|')) return;
    const cells = raw
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    const m = /^`(GW_ERR_[A-Z0-9_]+)`$/.exec(cells[0] ?? '');
    if (m) rows.push({ code: m[1] as string, cells, section, line: i + 1 });
  });
  return rows;
}
const rows = docRows(docText);
const rowOf = (code: string): DocRow | undefined => rows.find((r) => r.code === code);

/** One instance of every concrete error class (a class with two constructions is listed once per form). */
const SAMPLES: GatewayError[] = [
  new GatewayStartError('x'),
  new MetricsError('x'),
  new DecimalError('x'),
  new ConfigError([{ path: 'a', message: 'b' }]),
  new ProfileError('x'),
  new CliUsageError('--x', 'x'),
  new PolicyError([{ message: 'x' }]),
  new CoreLoadError('x'),
  new CoreConfigError('x'),
  new CorePolicyError('x'),
  new CoreStateError('x'),
  new CoreSettleError('x'),
  new LedgerOpenError('x'),
  new LedgerSchemaError('x'),
  new LedgerBatchError('x'),
  new LedgerVoucherError('x'),
  new LedgerPolicyError('x'),
  new LedgerQueryError('x'),
  new LedgerClosedError(),
  new LedgerDamagedError('x'),
  new ModbusExceptionError(2, 'x'),
  new ModbusTimeoutError('x', 1000),
  new ModbusProtocolError('x', 'x'),
  new ModbusRequestError('x', 'x'),
  new LinkDownError('l', 'x'),
  new LinkOptionsError('l', 'x'),
  new P1PortError('/dev/x', 'x'),
  new P1OptionsError('x'),
  new P1TelegramError('x'),
  new P1ClosedError(),
  new DecodeError('p', 'x'),
  new CounterTypeError('p', 'x'),
  new EncodeValueError('p', 'x'),
  new EncodeRangeError('p', 'x'),
  new EncodeInexactError('p', 'x'),
  new pollErrors.PointNotFoundError('d', 'p'),
  new pollErrors.PointNotWritableError('d', 'p', 'x'),
  new pollErrors.WriteReadbackError('d', 'p', '1', '2'),
  new pollErrors.QueueClosedError('b'),
  new pollErrors.QueueFullError('b', 1024),
  new pollErrors.PollerStoppedError('d'),
  new BadRequestError('f', 'x'),
  new MalformedJsonError('x'),
  new InvalidValueError('x'),
  new UnauthorizedError('x', true),
  new ForbiddenError('x'),
  new RouteNotFoundError('/x'),
  new UnknownDeviceError('d'),
  new UnknownPointError('d', 'p'),
  new MethodNotAllowedError('DELETE', ['GET']),
  new apiErrors.PointNotWritableError('d', 'p'),
  new BodyTooLargeError(65536),
  new UnsupportedMediaTypeError('text/plain'),
  new UpgradeRequiredError(),
  new InternalError('1f'),
  new EditorOwnsFlowsError(),
  new PoliciesRejectedError('x', [{ message: 'x' }]),
  new WriteFailedError('d', 'p', 'x'),
  new UnavailableError('x'),
  new SecretsError('x'),
  new SettleKeyError('x'),
  new VoucherIssueError('x'),
  new OutboxOpenError('x'),
  new OutboxClosedError(),
  new MqttPasswordFileError('x'),
];

/** Any error class, abstract or not. */
type ErrorClass = abstract new (...args: never[]) => unknown;

/** The classes that take a code from their subclasses rather than carrying one of their own. */
const BASES: ErrorClass[] = [GatewayError, ApiError, EncodeError];

/** Every exported subclass of GatewayError in the files of gateway/ that declare one. */
async function errorClassesInSource(): Promise<{ file: string; name: string; cls: ErrorClass }[]> {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && /\bclass\s+\w+\s+extends\s+\w*Error\b/.test(fs.readFileSync(path.join(ROOT, rel), 'utf8')))
        files.push(rel);
    }
  };
  walk('gateway');
  const out: { file: string; name: string; cls: ErrorClass }[] = [];
  for (const rel of files) {
    const mod = (await import(path.join(ROOT, rel))) as Record<string, unknown>;
    for (const [name, v] of Object.entries(mod)) {
      if (typeof v === 'function' && v.prototype instanceof GatewayError) out.push({ file: rel, name, cls: v as ErrorClass });
    }
  }
  return out;
}

describe('the error-code table', () => {
  test('codes are GW_ERR_ names, each in one area that has a section in docs/errors.md', () => {
    for (const code of TABLE_CODES) {
      expect(code).toMatch(/^GW_ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*$/);
      expect(Object.keys(SECTIONS)).toContain(ERROR_CODES[code].area);
    }
    expect(TABLE_CODES.length).toBeGreaterThanOrEqual(50);
  });

  test(`every code of the table has one row in ${ERRORS_DOC}, under its area's section`, () => {
    const problems: string[] = [];
    for (const code of TABLE_CODES) {
      const found = rows.filter((r) => r.code === code);
      const want = SECTIONS[ERROR_CODES[code].area];
      if (found.length !== 1) problems.push(`${code}: ${found.length} rows in ${ERRORS_DOC}`);
      else if (found[0]?.section !== want) problems.push(`${code}: listed under "${found[0]?.section}", not "${want}"`);
    }
    expect(problems).toEqual([]);
  });

  test(`${ERRORS_DOC} mentions no code the table does not have`, () => {
    const stale: string[] = [];
    docText.split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/\bGW_ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*\b/g)) {
        if (!(m[0] in ERROR_CODES)) stale.push(`${ERRORS_DOC}:${i + 1}: ${m[0]}`);
      }
    });
    expect(stale).toEqual([]);
  });

  test('a code outside the table does not compile', () => {
    // @ts-expect-error: not a code of gateway/base/error-codes.ts
    const e = new GatewayError('GW_ERR_NOT_IN_THE_TABLE', 'x');
    expect(e).toBeInstanceOf(Error);
  });
});

describe('the error classes', () => {
  test('each carries a code of the table, named with its class in docs/errors.md (and its HTTP status)', () => {
    const problems: string[] = [];
    for (const e of SAMPLES) {
      const name = e.constructor.name;
      const row = rowOf(e.code);
      if (!(e.code in ERROR_CODES)) problems.push(`${name}: ${e.code} is not in the table`);
      else if (!row) problems.push(`${name}: ${e.code} has no row in ${ERRORS_DOC}`);
      else if (!new RegExp(`\\b${name}\\b`).test(row.cells[1] ?? ''))
        problems.push(`${ERRORS_DOC}:${row.line}: ${e.code} does not name ${name}`);
      const status = (ERROR_CODES[e.code] as { status?: number }).status;
      if (e instanceof ApiError) {
        if (e.status !== status) problems.push(`${name}: status ${e.status}, the table says ${String(status)}`);
        if (row && !row.cells.includes(String(e.status)))
          problems.push(`${ERRORS_DOC}:${row.line}: ${e.code} does not give HTTP ${e.status}`);
      } else if (status !== undefined) {
        problems.push(`${name}: ${e.code} has HTTP status ${status} but the class is not an ApiError`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('every code of the table is carried by exactly one class', () => {
    const classesOf = new Map<string, Set<string>>();
    for (const e of SAMPLES) classesOf.set(e.code, (classesOf.get(e.code) ?? new Set()).add(e.constructor.name));
    expect(TABLE_CODES.filter((c) => !classesOf.has(c))).toEqual([]);
    expect([...classesOf].filter(([, cs]) => cs.size > 1).map(([c, cs]) => `${c}: ${[...cs].join(', ')}`)).toEqual([]);
  });

  test('every error class of gateway/ is sampled above', async () => {
    const sampled = new Set<unknown>(SAMPLES.map((e) => e.constructor));
    const missing = (await errorClassesInSource())
      .filter(({ cls }) => !BASES.includes(cls) && !sampled.has(cls))
      .map(({ file, name }) => `${file}: ${name}`);
    expect(missing).toEqual([]);
  });
});
