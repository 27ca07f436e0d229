/** Process exit codes of every `m2m-gateway` command (documented in `--help` and docs/cli.md). */
export const EXIT_OK = 0;
/** verify / ledger verify: the thing checked is not valid. */
export const EXIT_INVALID = 1;
/** Bad config or bad command-line usage. */
export const EXIT_CONFIG = 2;
/** Runtime failure (port in use, unreadable data dir, ...). */
export const EXIT_RUNTIME = 3;
