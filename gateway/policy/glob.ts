/**
 * Device globs in policy nodes: `*` any run of characters, `?` one
 * character, commas separate alternatives (`purifier-*,meter-1`).
 * Matching is case-sensitive, like device ids.
 */

export function globToRegExp(glob: string): RegExp {
  const alternatives = glob
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '')
    .map((g) =>
      g
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()|[\]{}]/g, '\\$&')))
        .join(''),
    );
  return new RegExp(`^(?:${alternatives.join('|')})$`);
}

/** The ids matching `glob`, in the order given. */
export function matchDevices(glob: string, ids: readonly string[]): string[] {
  const re = globToRegExp(glob);
  return ids.filter((id) => re.test(id));
}
