/**
 * The error-code registry (STYLE.md habit 1, fastify's lib/errors.js test):
 * every `GW_ERR_*` code the gateway raises is declared by exactly one class,
 * is documented in docs/errors.md, and docs/errors.md lists no code the
 * source does not have.
 *
 * The authority is a scan of gateway/**\/*.ts with the TypeScript parser (so
 * comments never count): a class that extends GatewayError (directly or through
 * a class that forwards its first constructor parameter as the code, like
 * ApiError) declares the code its constructor passes to `super(...)` — a
 * string literal, a `const` of the same file, or a property of a const object
 * (`super(P1_ERROR_CODES.options, …)`). `new GatewayError('GW_ERR_…')` and the
 * like count as declarations too. Any other `'GW_ERR_…'` literal in the
 * source (WebSocket error messages, `*_ERROR_CODES` lists) must name a
 * declared code; a literal passed to `.startsWith()` must prefix one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');
const ERRORS_DOC = 'docs/errors.md';
const BASE_FILE = 'gateway/base/errors.ts';
const BASE_CLASS = 'GatewayError';
const CODE_RE = /^GW_ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*$/;
const DOC_CODE_RE = /\bGW_ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*\b/g;

interface SourceText {
  /** Repository-relative, forward slashes: `gateway/api/errors.ts`. */
  file: string;
  text: string;
}

interface Declaration {
  code: string;
  /** The class that declares it, or `new X` for a direct construction. */
  by: string;
  file: string;
  line: number;
  /** HTTP status when the constructor passes one (ApiError subclasses). */
  status?: number;
}

interface ClassInfo {
  name: string;
  file: string;
  node: ts.ClassDeclaration;
  extendsName?: string;
}

interface ScanResult {
  declarations: Declaration[];
  /** Problems found while scanning: unresolvable codes, undeclared literals, stale lists. */
  problems: string[];
}

function listSources(dir: string): SourceText[] {
  const out: SourceText[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listSources(rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      out.push({ file: rel, text: fs.readFileSync(path.join(ROOT, rel), 'utf8') });
    }
  }
  return out;
}

function unwrap(e: ts.Expression): ts.Expression {
  let x = e;
  while (ts.isAsExpression(x) || ts.isParenthesizedExpression(x) || ts.isSatisfiesExpression(x) || ts.isTypeAssertionExpression(x)) {
    x = x.expression;
  }
  return x;
}

/** Scan source files for error-code declarations and usages. Pure: the tests below also feed it fixtures. */
function scanErrorCodes(sources: readonly SourceText[]): ScanResult {
  const parsed = new Map<string, ts.SourceFile>();
  for (const s of sources) parsed.set(s.file, ts.createSourceFile(s.file, s.text, ts.ScriptTarget.ES2022, true));

  const classes = new Map<string, Map<string, ClassInfo>>();
  const consts = new Map<string, Map<string, ts.Expression>>();
  const imports = new Map<string, Map<string, { from: string; name: string }>>();
  for (const [file, sf] of parsed) {
    const cls = new Map<string, ClassInfo>();
    const cst = new Map<string, ts.Expression>();
    const imp = new Map<string, { from: string; name: string }>();
    for (const st of sf.statements) {
      if (ts.isClassDeclaration(st) && st.name) {
        const ext = st.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0]?.expression;
        cls.set(st.name.text, { name: st.name.text, file, node: st, extendsName: ext && ts.isIdentifier(ext) ? ext.text : undefined });
      } else if (ts.isVariableStatement(st) && st.declarationList.flags & ts.NodeFlags.Const) {
        for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && d.initializer) cst.set(d.name.text, d.initializer);
      } else if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier) && st.importClause?.namedBindings) {
        const nb = st.importClause.namedBindings;
        if (ts.isNamedImports(nb)) {
          for (const el of nb.elements) imp.set(el.name.text, { from: st.moduleSpecifier.text, name: (el.propertyName ?? el.name).text });
        }
      }
    }
    classes.set(file, cls);
    consts.set(file, cst);
    imports.set(file, imp);
  }

  const resolveModule = (from: string, spec: string): string | undefined => {
    if (!spec.startsWith('.')) return undefined;
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
    return [`${base}.ts`, `${base}/index.ts`].find((f) => parsed.has(f));
  };
  /** Where `name` as seen in `file` is defined: the file itself or the module it is imported from. */
  const definitionFile = (file: string, name: string): { file: string; name: string } | undefined => {
    if (classes.get(file)?.has(name) || consts.get(file)?.has(name)) return { file, name };
    const im = imports.get(file)?.get(name);
    const target = im && resolveModule(file, im.from);
    return target ? { file: target, name: im.name } : undefined;
  };
  const resolveClass = (file: string, name: string): ClassInfo | undefined => {
    const def = definitionFile(file, name);
    return def && classes.get(def.file)?.get(def.name);
  };
  const literalOf = (file: string, expr: ts.Expression, depth = 0): string | undefined => {
    if (depth > 8) return undefined;
    const e = unwrap(expr);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
    if (ts.isIdentifier(e)) {
      const def = definitionFile(file, e.text);
      const init = def && consts.get(def.file)?.get(def.name);
      return def && init ? literalOf(def.file, init, depth + 1) : undefined;
    }
    if (ts.isPropertyAccessExpression(e) && ts.isIdentifier(e.expression)) {
      const def = definitionFile(file, e.expression.text);
      const init = def && consts.get(def.file)?.get(def.name);
      const obj = init && unwrap(init);
      if (!def || !obj || !ts.isObjectLiteralExpression(obj)) return undefined;
      const prop = obj.properties.find(
        (p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === e.name.text,
      );
      return prop ? literalOf(def.file, prop.initializer, depth + 1) : undefined;
    }
    return undefined;
  };

  // A "forwarding" class passes its first constructor parameter on as the code (GatewayError, ApiError).
  const kind = new Map<ClassInfo, 'forwarding' | 'declaring' | 'inheriting' | 'none'>();
  const problems: string[] = [];
  const declarations: Declaration[] = [];
  const declNodes = new Set<ts.Node>();
  const lineOf = (file: string, node: ts.Node): number =>
    (parsed.get(file) as ts.SourceFile).getLineAndCharacterOfPosition(node.getStart()).line + 1;
  const superCall = (c: ClassInfo): { ctor: ts.ConstructorDeclaration; call?: ts.CallExpression } | undefined => {
    const ctor = c.node.members.find((m): m is ts.ConstructorDeclaration => ts.isConstructorDeclaration(m) && m.body !== undefined);
    if (!ctor) return undefined;
    let call: ts.CallExpression | undefined;
    const visit = (n: ts.Node): void => {
      if (!call && ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.SuperKeyword) call = n;
      else ts.forEachChild(n, visit);
    };
    visit(ctor.body as ts.Block);
    return { ctor, call };
  };
  const record = (code: string, by: string, file: string, node: ts.Node, args: readonly ts.Expression[]): void => {
    const status = args[1] && ts.isNumericLiteral(unwrap(args[1])) ? Number((unwrap(args[1]) as ts.NumericLiteral).text) : undefined;
    declarations.push({ code, by, file, line: lineOf(file, node), ...(status !== undefined && status >= 100 && status <= 599 ? { status } : {}) });
    declNodes.add(unwrap(args[0] as ts.Expression));
  };
  const classify = (c: ClassInfo, seen: Set<ClassInfo> = new Set()): 'forwarding' | 'declaring' | 'inheriting' | 'none' => {
    const known = kind.get(c);
    if (known) return known;
    if (seen.has(c)) return 'none';
    seen.add(c);
    let k: 'forwarding' | 'declaring' | 'inheriting' | 'none' = 'none';
    const parent = c.extendsName ? resolveClass(c.file, c.extendsName) : undefined;
    const pk = parent ? classify(parent, seen) : 'none';
    if (c.file === BASE_FILE && c.name === BASE_CLASS) k = 'forwarding';
    else if (pk === 'declaring' || pk === 'inheriting') k = 'inheriting';
    else if (pk === 'forwarding') {
      const sc = superCall(c);
      if (!sc) k = 'forwarding'; // no constructor of its own: takes the parent's (code, …)
      else {
        const first = sc.call?.arguments[0];
        const firstParam = sc.ctor.parameters[0]?.name;
        const code = first && literalOf(c.file, first);
        if (code !== undefined) {
          k = 'declaring';
          if (!CODE_RE.test(code)) problems.push(`${c.file}: class ${c.name} passes "${code}", not a GW_ERR_[A-Z0-9_]+ code`);
          record(code, c.name, c.file, c.node.name ?? c.node, sc.call?.arguments ?? []);
        } else if (first && firstParam && ts.isIdentifier(unwrap(first)) && ts.isIdentifier(firstParam) && (unwrap(first) as ts.Identifier).text === firstParam.text) {
          k = 'forwarding';
        } else {
          k = 'declaring';
          problems.push(`${c.file}:${lineOf(c.file, c.node)}: class ${c.name} passes a code that is not a literal the scan can resolve`);
        }
      }
    }
    kind.set(c, k);
    return k;
  };
  for (const cls of classes.values()) for (const c of cls.values()) classify(c);

  // Direct constructions of a forwarding class: `new GatewayError('GW_ERR_X', …)`.
  for (const [file, sf] of parsed) {
    const visit = (n: ts.Node): void => {
      if (ts.isNewExpression(n) && ts.isIdentifier(n.expression) && n.arguments?.length) {
        const c = resolveClass(file, n.expression.text);
        if (c && kind.get(c) === 'forwarding') {
          const code = literalOf(file, n.arguments[0] as ts.Expression);
          if (code === undefined) problems.push(`${file}:${lineOf(file, n)}: new ${c.name}(…) with a code the scan cannot resolve`);
          else record(code, `new ${c.name}`, file, n, n.arguments);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }

  // Every other GW_ERR literal must name (or, for startsWith, prefix) a declared code.
  const declared = new Set(declarations.map((d) => d.code));
  for (const [file, sf] of parsed) {
    const visit = (n: ts.Node): void => {
      if ((ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && n.text.startsWith('GW_ERR_') && !declNodes.has(n)) {
        const call = n.parent;
        const isPrefix =
          ts.isCallExpression(call) && ts.isPropertyAccessExpression(call.expression) && call.expression.name.text === 'startsWith';
        const where = `${file}:${lineOf(file, n)}`;
        if (isPrefix) {
          if (![...declared].some((c) => c.startsWith(n.text))) problems.push(`${where}: prefix "${n.text}" matches no declared code`);
        } else if (!declared.has(n.text)) {
          problems.push(`${where}: "${n.text}" is used but no GatewayError class declares it`);
        }
      } else if (ts.isTemplateExpression(n) && n.head.text.startsWith('GW_ERR_')) {
        problems.push(`${file}:${lineOf(file, n)}: a computed error code (\`${n.head.text}\${…}\`): codes must be literals`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }

  // Per-area lists (`API_ERROR_CODES`, `LEDGER_ERRORS`) must match what their file declares.
  for (const [file, cst] of consts) {
    const own = declarations.filter((d) => d.file === file);
    for (const [name, init] of cst) {
      const v = unwrap(init);
      if (/_ERROR_CODES$/.test(name) && (ts.isArrayLiteralExpression(v) || ts.isObjectLiteralExpression(v))) {
        const items = ts.isArrayLiteralExpression(v)
          ? v.elements.map((e) => literalOf(file, e))
          : v.properties.map((p) => (ts.isPropertyAssignment(p) ? literalOf(file, p.initializer) : undefined));
        const listed = new Set(items.filter((x): x is string => x !== undefined));
        for (const d of own) if (!listed.has(d.code)) problems.push(`${file}: ${name} omits ${d.code} (declared by ${d.by})`);
        for (const c of listed) if (!own.some((d) => d.code === c)) problems.push(`${file}: ${name} lists ${c}, which no class in this file declares`);
      } else if (/_ERRORS$/.test(name) && ts.isArrayLiteralExpression(v)) {
        const listed = new Set(v.elements.map((e) => (ts.isIdentifier(e) ? e.text : '?')));
        for (const d of own) if (!d.by.startsWith('new ') && !listed.has(d.by)) problems.push(`${file}: ${name} omits ${d.by} (${d.code})`);
      }
    }
  }
  return { declarations, problems };
}

/** Codes declared by more than one class (or construction site). */
function duplicateCodes(declarations: readonly Declaration[]): string[] {
  const byCode = new Map<string, Declaration[]>();
  for (const d of declarations) byCode.set(d.code, [...(byCode.get(d.code) ?? []), d]);
  return [...byCode]
    .filter(([, ds]) => ds.length > 1)
    .map(([code, ds]) => `${code} is declared by ${ds.length} classes: ${ds.map((d) => `${d.by} (${d.file}:${d.line})`).join(', ')}`);
}

interface DocRow {
  code: string;
  cells: string[];
  line: number;
}

/** Table rows of docs/errors.md whose first cell is a code in backticks. */
function docRows(text: string): DocRow[] {
  const rows: DocRow[] = [];
  text.split('\n').forEach((raw, i) => {
    if (!raw.trimStart().startsWith('|')) return;
    const cells = raw.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim());
    const m = /^`(GW_ERR_[A-Z0-9_]+)`$/.exec(cells[0] ?? '');
    if (m) rows.push({ code: m[1] as string, cells, line: i + 1 });
  });
  return rows;
}

const gatewaySources = listSources('gateway');
const scan = scanErrorCodes(gatewaySources);
const docText = fs.readFileSync(path.join(ROOT, ERRORS_DOC), 'utf8');

describe('the scan itself', () => {
  const base = { file: BASE_FILE, text: 'export class GatewayError extends Error { constructor(code: string, m: string) { super(m); } }' };
  const api = {
    file: 'gateway/api/errors.ts',
    text: `import { GatewayError } from '../base/errors';
      export class ApiError extends GatewayError { constructor(code: string, status: number, m: string) { super(code, m); } }
      export class NotFound extends ApiError { constructor() { super('GW_ERR_X_NOT_FOUND', 404, 'no'); } }`,
  };

  test('finds literal, const and const-object codes, forwarding bases and HTTP statuses', () => {
    const area = {
      file: 'gateway/area/errors.ts',
      text: `import { GatewayError } from '../base/errors';
        const CODE = 'GW_ERR_B';
        export const AREA_ERROR_CODES = { c: 'GW_ERR_C' } as const;
        // super('GW_ERR_IN_A_COMMENT', …) does not count
        export class A extends GatewayError { constructor() { super('GW_ERR_A', 'a'); } }
        export class B extends GatewayError { constructor() { super(CODE, 'b'); } }
        export class C extends GatewayError { constructor() { super(AREA_ERROR_CODES.c, 'c'); } }
        export class SubA extends A {}`,
    };
    const r = scanErrorCodes([base, api, area]);
    expect(r.declarations.map((d) => [d.code, d.by, d.status ?? null]).sort()).toEqual([
      ['GW_ERR_A', 'A', null],
      ['GW_ERR_B', 'B', null],
      ['GW_ERR_C', 'C', null],
      ['GW_ERR_X_NOT_FOUND', 'NotFound', 404],
    ]);
    expect(r.problems).toEqual(['gateway/area/errors.ts: AREA_ERROR_CODES omits GW_ERR_A (declared by A)', 'gateway/area/errors.ts: AREA_ERROR_CODES omits GW_ERR_B (declared by B)']);
  });

  test('a class re-using another class\u2019s code is reported with both files', () => {
    const other = {
      file: 'gateway/poll/errors.ts',
      text: `import { GatewayError } from '../base/errors';
        export class NotFound extends GatewayError { constructor() { super('GW_ERR_X_NOT_FOUND', 'again'); } }`,
    };
    const dups = duplicateCodes(scanErrorCodes([base, api, other]).declarations);
    expect(dups).toHaveLength(1);
    expect(dups[0]).toMatch(/^GW_ERR_X_NOT_FOUND is declared by 2 classes: .*gateway\/api\/errors\.ts.*gateway\/poll\/errors\.ts/);
  });

  test('undeclared literals, dead prefixes and computed codes are reported', () => {
    const user = {
      file: 'gateway/user.ts',
      text: `const a = { code: 'GW_ERR_NOWHERE' }; const ok = 'GW_ERR_X_NOT_FOUND';
        const p = (c: string) => c.startsWith('GW_ERR_X_') || c.startsWith('GW_ERR_Y'); const t = (x: string) => \`GW_ERR_\${x}\`;`,
    };
    const r = scanErrorCodes([base, api, user]);
    expect(r.problems).toEqual([
      'gateway/user.ts:1: "GW_ERR_NOWHERE" is used but no GatewayError class declares it',
      'gateway/user.ts:2: prefix "GW_ERR_Y" matches no declared code',
      'gateway/user.ts:2: a computed error code (`GW_ERR_${…}`): codes must be literals',
    ]);
  });
});

describe('error codes of the gateway', () => {
  test('the scan finds the codes of every area', () => {
    const byCode = new Map(scan.declarations.map((d) => [d.code, d]));
    // One known code per area, reached through each way of declaring one.
    expect(byCode.get('GW_ERR_CONFIG')?.by).toBe('ConfigError');
    expect(byCode.get('GW_ERR_P1_OPTIONS')?.by).toBe('P1OptionsError'); // super(P1_ERROR_CODES.options, …)
    expect(byCode.get('GW_ERR_BAD_REQUEST')).toMatchObject({ by: 'BadRequestError', status: 400 }); // via ApiError
    expect(byCode.get('GW_ERR_LEDGER_CLOSED')?.file).toBe('gateway/ledger/errors.ts');
    expect(byCode.get('GW_ERR_START')?.file).toBe('gateway/base/errors.ts');
    expect(scan.declarations.length).toBeGreaterThanOrEqual(50);
  });

  test('every code literal resolves, every GW_ERR literal names a declared code, per-area lists are complete', () => {
    expect(scan.problems).toEqual([]);
  });

  test('each code is declared by exactly one class', () => {
    expect(duplicateCodes(scan.declarations)).toEqual([]);
  });

  test(`every declared code has a row in ${ERRORS_DOC} naming its class (and HTTP status)`, () => {
    const rows = docRows(docText);
    const missing: string[] = [];
    for (const d of scan.declarations) {
      const classRe = new RegExp(`\\b${d.by.replace(/^new /, '')}\\b`);
      const candidates = rows.filter((r) => r.code === d.code && classRe.test(r.cells[1] ?? ''));
      if (candidates.length === 0) {
        missing.push(`${d.code} (${d.by}, ${d.file}:${d.line}) has no row "| \`${d.code}\` | ${d.by} | …" in ${ERRORS_DOC}`);
      } else if (d.status !== undefined && !candidates.some((r) => r.cells.includes(String(d.status)))) {
        const at = candidates.map((r) => `${ERRORS_DOC}:${r.line}`).join(', ');
        missing.push(`${d.code} (${d.by}, ${d.file}): ${at} does not give its HTTP status ${d.status}`);
      }
    }
    expect(missing).toEqual([]);
  });

  test(`${ERRORS_DOC} mentions no code the source does not declare`, () => {
    const declared = new Set(scan.declarations.map((d) => d.code));
    const stale: string[] = [];
    docText.split('\n').forEach((line, i) => {
      for (const m of line.matchAll(DOC_CODE_RE)) {
        if (!declared.has(m[0])) stale.push(`${ERRORS_DOC}:${i + 1}: ${m[0]} is not declared anywhere in gateway/`);
      }
    });
    expect(stale).toEqual([]);
  });
});
