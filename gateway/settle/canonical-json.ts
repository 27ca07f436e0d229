/**
 * RFC 8785 JSON Canonicalization Scheme (JCS), the bytes a voucher signature
 * covers: object keys sorted by UTF-16 code units, no whitespace, numbers in
 * ECMAScript shortest form, strings with the minimal JSON escapes. The
 * `canonicalize` package implements it; this is its one door into settle/.
 */
import canonicalize from 'canonicalize';

/** Canonical JSON text of a JSON value (throws on values JSON cannot hold: undefined, NaN, Infinity). */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('canonical JSON: the value is not representable in JSON');
  return text;
}
