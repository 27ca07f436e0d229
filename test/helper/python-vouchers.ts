/**
 * Jest helper: checks vouchers and checkpoints with an implementation that is
 * not the product's — Debian's python3-cryptography for ed25519, and a small
 * RFC 8785 (JCS) encoder written here in Python for the bytes the signature
 * covers: object keys sorted by UTF-16 code units, no whitespace, integers as
 * plain digits, strings with the minimal JSON escapes (lowercase \u00xx).
 *
 *   const r = verifyWithPython(vouchers, 'payerKey');  // {status, out, err}; out "ok <n>"
 */
import { spawnSync } from 'node:child_process';

const SCRIPT = String.raw`
import sys, json, base64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def jcs(v):
    if v is None: return "null"
    if v is True: return "true"
    if v is False: return "false"
    if isinstance(v, int): return str(v)
    if isinstance(v, float): raise ValueError("no floats in vouchers")
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            c = ord(ch)
            if ch == '"': out.append('\\"')
            elif ch == '\\': out.append('\\\\')
            elif ch == '\b': out.append('\\b')
            elif ch == '\f': out.append('\\f')
            elif ch == '\n': out.append('\\n')
            elif ch == '\r': out.append('\\r')
            elif ch == '\t': out.append('\\t')
            elif c < 0x20: out.append('\\u%04x' % c)
            else: out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(v, list): return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(jcs(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise ValueError("not JSON")

b64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
doc = json.load(sys.stdin)
n = 0
for item in doc["items"]:
    body = {k: x for k, x in item.items() if k != "sig"}
    Ed25519PublicKey.from_public_bytes(b64(item[doc["keyField"]])).verify(b64(item["sig"]), jcs(body).encode("utf-8"))
    n += 1
print("ok", n)
`;

export function verifyWithPython(
  items: readonly object[],
  keyField: 'payerKey' | 'gatewayKey' = 'payerKey',
): { status: number | null; out: string; err: string } {
  const r = spawnSync('/usr/bin/python3', ['-c', SCRIPT], {
    input: JSON.stringify({ items, keyField }),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr };
}
