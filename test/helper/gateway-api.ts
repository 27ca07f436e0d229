/**
 * Jest helper: the gateway's HTTP API as the tests see it — a small client
 * (Node's fetch, optional bearer token), the answer shapes (docs/architecture.md §8), and
 * bounded waits on what the daemon shows.
 *
 *   const api = new ApiClient(url, token);
 *   await waitForPoint(api, 'purifier-1', 'water', '1234');      // the daemon has read it
 *   await waitForLedger(api, [water.row('NOK')]);                // /api/ledger equals exactly
 */
import { canonical } from './billing-oracle';
import { waitFor } from './daemon-process';

export interface LedgerRow {
  device: string;
  point: string;
  account: string;
  payee: string;
  quantity: string;
  amount: string;
  currency: string;
}

export interface DeviceView {
  id: string;
  link: string;
  state: string;
  lastReadAt: string | null;
  points: Record<string, { value: string | boolean | null; unit: string; at: string | null }>;
}

/** Rows in the order of their key (device, point, account, payee). */
export const byKey = (a: LedgerRow, b: LedgerRow): number =>
  [a.device, a.point, a.account, a.payee].join('\0') < [b.device, b.point, b.account, b.payee].join('\0') ? -1 : 1;

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
}

/** A tiny client of the gateway HTTP API (Node's fetch), with an optional bearer token. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  withToken(token: string | undefined): ApiClient {
    return new ApiClient(this.baseUrl, token);
  }

  async request<T = unknown>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.baseUrl + route, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, text };
  }

  /** GET that must answer 200; returns the parsed body. */
  async get<T>(route: string): Promise<T> {
    const r = await this.request<T>('GET', route);
    if (r.status !== 200) throw new Error(`GET ${route} -> ${r.status}: ${r.text.slice(0, 500)}`);
    return r.body;
  }

  post<T>(route: string, body: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('POST', route, body);
  }
}

/** Poll /api/devices until `device.point` shows `expected` (decimals compared exactly). */
export async function waitForPoint(
  api: ApiClient,
  device: string,
  point: string,
  expected: string | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  let last: unknown;
  await waitFor(
    async () => {
      const devices = await api.get<DeviceView[]>('/api/devices');
      const v = devices.find((d) => d.id === device)?.points[point]?.value;
      last = v;
      const same = typeof expected === 'boolean' ? v === expected : typeof v === 'string' && canonical(v) === canonical(expected);
      return same ? true : undefined;
    },
    () => `${device}.${point} = ${String(expected)} in /api/devices (last: ${JSON.stringify(last)})`,
    timeoutMs,
  );
}

/** Poll /api/ledger (the rows `only` selects) until it equals `expected` exactly; the timeout error shows both. */
export async function waitForLedger(
  api: ApiClient,
  expected: LedgerRow[],
  timeoutMs = 10_000,
  only: (r: LedgerRow) => boolean = () => true,
): Promise<LedgerRow[]> {
  const want = [...expected].sort(byKey);
  let last: LedgerRow[] = [];
  await waitFor(
    async () => {
      last = (await api.get<LedgerRow[]>('/api/ledger')).filter(only).sort(byKey);
      return JSON.stringify(last) === JSON.stringify(want) ? true : undefined;
    },
    () => `/api/ledger to equal\n${JSON.stringify(want, null, 1)}\nlast answer:\n${JSON.stringify(last, null, 1)}`,
    timeoutMs,
  );
  return last;
}
