/**
 * Duplicate keys in JSON text. `JSON.parse` keeps the last of two equal keys
 * silently (`{"amount":"1","amount":"900"}` reads as 900), so a signed
 * document with a repeated key can show one value to a person and another to
 * a program. Callers parse first (the text is valid JSON), then ask here.
 * One pass over the text, no recursion (nesting depth costs no stack).
 */

/** The path of the first repeated key (`[0].amount`, `$.amount`), or null when every object's keys are distinct. */
export function findDuplicateKey(text: string): string | null {
  // One frame per open object or array: its keys seen so far (objects), or its next index (arrays).
  const stack: Array<{ keys: Set<string> | null; index: number; path: string; key: string | null }> = [];
  let expectKey = false;
  let i = 0;
  const n = text.length;
  const pathOf = (f: { path: string }, key: string) => `${f.path}.${key}`;
  while (i < n) {
    const c = text[i] as string;
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top && top.keys) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return pathOf(top, key);
        top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      const top = stack[stack.length - 1];
      const path = !top ? '$' : top.keys ? pathOf(top, top.key ?? '') : `${top.path}[${top.index}]`;
      stack.push({ keys: c === '{' ? new Set() : null, index: 0, path, key: null });
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.keys) expectKey = true;
      else if (top) top.index += 1;
    }
    i += 1;
  }
  return null;
}
