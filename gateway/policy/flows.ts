/**
 * Reading Node-RED's flow file (`<dataDir>/flows.json`: a JSON array of node
 * objects {id, type, z, name, wires, …properties}) and picking out the m2m-*
 * policy nodes. Disabled nodes (`d: true`) and nodes on disabled tabs
 * (`disabled: true`) are ignored.
 */
import * as fs from 'node:fs';
import { PolicyError, type PolicyProblem } from './errors';

export const POLICY_NODE_TYPES = [
  'm2m-tariff',
  'm2m-credit-limit',
  'm2m-alarm',
  'm2m-offer',
  'm2m-in',
  'm2m-write',
  'm2m-control',
  'm2m-service-order',
] as const;
export type PolicyNodeType = (typeof POLICY_NODE_TYPES)[number];

/** A node as Node-RED stores it: common fields plus its properties at the top level. */
export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  name?: string;
  d?: boolean;
  [property: string]: unknown;
}

export interface PolicyNode extends FlowNode {
  type: PolicyNodeType;
}

const isPolicyType = (t: string): t is PolicyNodeType => (POLICY_NODE_TYPES as readonly string[]).includes(t);

/** `m2m-tariff "water price" (n1)`, or `m2m-tariff (n1)` when unnamed. */
export function nodeLabel(node: Pick<FlowNode, 'id' | 'type' | 'name'>): string {
  const name = typeof node.name === 'string' && node.name.trim() ? ` "${node.name.trim()}"` : '';
  return `${node.type}${name} (${node.id})`;
}

/**
 * Read the flows file. A missing file returns null ("no policies"); an empty
 * file is an empty flow. Unreadable, malformed JSON or not an array of nodes
 * throws a PolicyError naming the file.
 */
export function readFlowsFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PolicyError([{ message: `${file}: ${(e as Error).message}` }], `cannot read flows file ${file}`);
  }
  if (text.trim() === '') return [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new PolicyError([{ message: `${file}: not valid JSON: ${(e as Error).message}` }], `cannot read flows file ${file}`);
  }
  if (flowArray(data) === undefined) {
    throw new PolicyError([{ message: `${file}: expected a JSON array of Node-RED nodes` }], `cannot read flows file ${file}`);
  }
  return data;
}

/** The node array of a flows document: Node-RED's file format (an array) or the admin API's {rev, flows}. */
export function flowArray(flows: unknown): unknown[] | undefined {
  if (Array.isArray(flows)) return flows;
  if (typeof flows === 'object' && flows !== null && Array.isArray((flows as { flows?: unknown }).flows)) {
    return (flows as { flows: unknown[] }).flows;
  }
  return undefined;
}

/** The active policy nodes of a flows document, in file order, plus structural problems. */
export function extractPolicyNodes(flows: unknown): { nodes: PolicyNode[]; problems: PolicyProblem[] } {
  const list = flowArray(flows);
  if (list === undefined) {
    throw new PolicyError([{ message: 'flows: expected a JSON array of Node-RED nodes' }]);
  }
  const problems: PolicyProblem[] = [];
  const all: FlowNode[] = [];
  const ids = new Set<string>();
  list.forEach((n, i) => {
    const o = n as Partial<FlowNode> | null;
    if (typeof o !== 'object' || o === null || typeof o.id !== 'string' || typeof o.type !== 'string') {
      problems.push({ message: `flows[${i}]: not a Node-RED node (needs string "id" and "type")` });
      return;
    }
    if (ids.has(o.id)) {
      problems.push({ nodeId: o.id, message: `${nodeLabel(o as FlowNode)}: duplicate node id` });
      return;
    }
    ids.add(o.id);
    all.push(o as FlowNode);
  });
  const disabledTabs = new Set(all.filter((n) => n.type === 'tab' && n.disabled === true).map((n) => n.id));
  const subflows = new Set(all.filter((n) => n.type === 'subflow').map((n) => n.id));
  const nodes: PolicyNode[] = [];
  for (const n of all) {
    if (!isPolicyType(n.type) || n.d === true) continue;
    if (typeof n.z === 'string' && disabledTabs.has(n.z)) continue;
    if (typeof n.z === 'string' && subflows.has(n.z)) {
      problems.push({ nodeId: n.id, message: `${nodeLabel(n)}: policy nodes inside a subflow are not supported; put it on a flow tab` });
      continue;
    }
    nodes.push(n as PolicyNode);
  }
  return { nodes, problems };
}
