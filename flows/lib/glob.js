'use strict';
/**
 * Device globs as the gateway reads them (docs/policies.md): `*` any run of
 * characters, `?` one character, commas separate alternatives. Matched in
 * linear time per alternative (greedy star with one backtrack point), never
 * through a regular expression built from user text.
 */

function matchOne(pattern, text) {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** A predicate for device ids matching `glob` (alternatives separated by commas). */
function globMatcher(glob) {
  const alternatives = String(glob || '*')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  return (id) => typeof id === 'string' && alternatives.some((g) => matchOne(g, id));
}

module.exports = { globMatcher };
