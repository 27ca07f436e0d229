/**
 * Device and channel globs: `*` any run of characters, `?` one character,
 * everything else literal; matching is case-sensitive, like device ids.
 * Policy nodes may list alternatives separated by commas (`purifier-*,meter-1`).
 *
 * Globs come from operators (flows.json) and from API clients (stream
 * subscriptions, docs/api.md), so matching never builds a regular
 * expression: `globMatch` walks pattern and name once, going back only to
 * the last `*` it passed, which bounds the work by
 * length(pattern) × length(name) steps whatever the pattern
 * (`*?*?*?…~` included: no backtracking blow-up, docs/api.md "Limits").
 */

/** A compiled glob: call it with a name. */
export type GlobMatcher = (name: string) => boolean;

/** True when `name` matches the single glob `pattern` (no comma alternatives). O(|pattern|·|name|) at worst. */
export function globMatch(pattern: string, name: string): boolean {
  const m = pattern.length;
  const n = name.length;
  let p = 0;
  let t = 0;
  let star = -1; // position of the last '*' seen in the pattern
  let resume = 0; // where in the name that '*' is to take one more character
  while (t < n) {
    const c = p < m ? pattern.charCodeAt(p) : -1;
    if (c === 42 /* * */) {
      star = p++;
      resume = t;
    } else if (c === 63 /* ? */ || (c !== -1 && c === name.charCodeAt(t))) {
      p += 1;
      t += 1;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < m && pattern.charCodeAt(p) === 42) p += 1;
  return p === m;
}

/** Runs of `*` collapse to one (same meaning, less work). */
function normalise(pattern: string): string {
  return pattern.replace(/\*{2,}/g, '*');
}

/** Compile one glob (no comma alternatives): literal globs compare by equality. */
export function compileGlob(pattern: string): GlobMatcher {
  const p = normalise(pattern);
  if (!/[*?]/.test(p)) return (name) => name === p;
  if (p === '*') return () => true;
  return (name) => globMatch(p, name);
}

/** The alternatives of a policy glob (`a-*, b-1` → ['a-*', 'b-1']). */
export function globAlternatives(glob: string): string[] {
  return glob
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
}

/** Compile a policy glob with comma alternatives into one matcher. */
export function compileDeviceGlob(glob: string): GlobMatcher {
  const alts = globAlternatives(glob).map(compileGlob);
  if (alts.length === 1) return alts[0] as GlobMatcher;
  return (name) => alts.some((m) => m(name));
}

/** The ids matching `glob` (comma alternatives allowed), in the order given. */
export function matchDevices(glob: string, ids: readonly string[]): string[] {
  const match = compileDeviceGlob(glob);
  return ids.filter((id) => match(id));
}
