/**
 * Bearer-token authentication. A `TokenResolver` turns a presented token
 * into a principal: the admin (everything), or — docs/architecture.md §7 — a buyer
 * account whose token is scoped to the data points it bought. Routes say
 * which principals they accept (routes.ts); the stream filters per principal.
 *
 * Tokens are compared in constant time: both sides are hashed to 32 bytes
 * first, so neither content nor length leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ForbiddenError, SecretsError, UnauthorizedError } from './errors';

import type { BuyerGrant } from '../market/marketplace';

export type { BuyerGrant };

/** The admin; a metrics reader; a data buyer (§7) scoped to what it bought; a payee (docs/settlement.md) that reads only its own channels' vouchers. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'metrics' }
  | { kind: 'buyer'; account: string; points: readonly BuyerGrant[] }
  | { kind: 'payee'; account: string };

/**
 * Who may call a route: anyone, the admin only, the admin or a metrics token
 * (`/metrics`), the admin or a payee (answers cut to its channels), or the
 * admin or a buyer. A metrics token opens nothing else.
 */
export type Access = 'open' | 'admin' | 'metrics' | 'payee' | 'authenticated';

export interface TokenResolver {
  /** The principal of this token, or null for an unknown token. */
  resolve(token: string): Principal | null | Promise<Principal | null>;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time equality of two secrets of any length. */
export function tokensEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Resolver over a fixed list of tokens (the admin token; buyer tokens from
 * config or the ledger). Every entry is compared, match or not, so the time
 * does not reveal which entry matched.
 */
export function staticTokenResolver(entries: ReadonlyArray<{ token: string; principal: Principal }>): TokenResolver {
  const hashed = entries.map((e) => ({ hash: digest(e.token), principal: e.principal }));
  return {
    resolve(token: string): Principal | null {
      const h = digest(token);
      let found: Principal | null = null;
      for (const e of hashed) {
        if (timingSafeEqual(h, e.hash) && found === null) found = e.principal;
      }
      return found;
    },
  };
}

/** The resolver the daemon starts with: only the admin token from secrets.json. */
export function adminTokenResolver(adminToken: string): TokenResolver {
  if (adminToken.length < 16) throw new SecretsError('admin token too short (at least 16 characters)');
  return staticTokenResolver([{ token: adminToken, principal: { kind: 'admin' } }]);
}

/** Try resolvers in order (e.g. admin first, then buyer tokens from the ledger). */
export function chainResolvers(...resolvers: TokenResolver[]): TokenResolver {
  return {
    async resolve(token: string): Promise<Principal | null> {
      for (const r of resolvers) {
        const p = await r.resolve(token);
        if (p) return p;
      }
      return null;
    },
  };
}

const BEARER_RE = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/**
 * The token of an `Authorization: Bearer` header: undefined when there is no
 * such header, null when there is one but it is not a well-formed bearer token.
 */
export function bearerToken(headers: IncomingHttpHeaders): string | null | undefined {
  const h = headers.authorization;
  if (h === undefined || h === '') return undefined;
  const m = BEARER_RE.exec(h);
  return m ? (m[1] as string) : null;
}

/** Resolve a token, throwing the 401 the API answers with. */
export async function authenticate(tokens: TokenResolver, token: string | null | undefined): Promise<Principal> {
  if (token === undefined) throw new UnauthorizedError('missing bearer token (Authorization: Bearer <token>)', false);
  if (token === null) throw new UnauthorizedError('malformed Authorization header, expected "Bearer <token>"', true);
  const p = await tokens.resolve(token);
  if (!p) throw new UnauthorizedError('invalid bearer token', true);
  return p;
}

/** Check a principal against a route's access level (403 when a buyer calls an admin route). */
export function authorize(access: Access, principal: Principal): void {
  if (access === 'open' || principal.kind === 'admin') return;
  if (principal.kind === 'metrics') {
    if (access !== 'metrics') throw new ForbiddenError('a metrics token reads /metrics only');
    return;
  }
  if (access === 'admin') throw new ForbiddenError('this route needs the admin token');
  if (access === 'metrics') throw new ForbiddenError('this route needs the admin or a metrics token');
  if (access === 'payee' && principal.kind !== 'payee') throw new ForbiddenError('this route needs the admin token or a payee token');
}
