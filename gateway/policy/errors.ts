/**
 * Policy errors. An invalid flows file is rejected whole, with every problem
 * listed and each one naming its node: `m2m-tariff "water price" (n1): price: …`.
 */
import { GatewayError } from '../base/errors';

export interface PolicyProblem {
  /** The node the problem is about; absent for problems with the file as a whole. */
  nodeId?: string;
  /** Full text, node label included. */
  message: string;
}

export class PolicyError extends GatewayError {
  readonly problems: PolicyProblem[];
  constructor(problems: PolicyProblem[], context = 'invalid policies') {
    const n = problems.length;
    super('GW_ERR_POLICY', `${context} (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
    this.problems = problems;
  }
}
