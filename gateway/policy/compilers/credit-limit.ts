/**
 * `m2m-credit-limit` (docs/policies.md): one limit per account; a cutoff
 * writes a switch point. Compiled into the core's credit table.
 */
import type { CreditLimit } from '../../core/types';
import type { CreditLimitPolicy } from '../nodes';
import type { Build, CompileScope } from './scope';

export interface CompiledCreditLimit {
  nodeId: string;
  name: string;
  account: string;
  limit: string;
  rearm: string;
  action: 'alarm' | 'cutoff';
  device?: string;
  point?: string;
}

export function checkCreditLimits(
  limits: readonly CreditLimitPolicy[],
  s: CompileScope,
): Build<{ limits: CompiledCreditLimit[]; table: CreditLimit[] }> {
  const accounts = new Set(s.deviceAccount.values());
  const limitBy = new Map<string, string>();
  for (const c of limits) {
    const other = limitBy.get(c.account);
    if (other !== undefined) s.fail(c.nodeId, `account "${c.account}" already has a credit limit: ${s.label(other)}`);
    limitBy.set(c.account, c.nodeId);
    if (!accounts.has(c.account)) s.warn(c.nodeId, `account "${c.account}" is not the account of any configured device`);
    if (c.device !== undefined && c.point !== undefined) {
      const entry = s.pointOf(c.device, c.point);
      if (!s.deviceAccount.has(c.device)) s.warn(c.nodeId, `device "${c.device}" is not configured`);
      else if (!entry) s.warn(c.nodeId, `device "${c.device}" has no point "${c.point}" listed`);
      else if (c.action === 'cutoff' && entry.kind !== 'switch') {
        s.fail(c.nodeId, `cutoff point "${c.point}" of device "${c.device}" is a ${entry.kind}; a cutoff writes a switch point`);
      }
    }
  }
  return (book) => ({
    limits: limits.map(({ limitNano: _l, rearmNano: _r, ...rest }) => rest),
    table: limits
      .map((c) => ({ account: book.registry.account(c.account), limitNano: c.limitNano, rearmNano: c.rearmNano }))
      .sort((a, b) => a.account - b.account),
  });
}
