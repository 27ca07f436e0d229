/**
 * In-process fake of the daemon's `ApiBackend` (our own interface) and small
 * HTTP helpers for the api-*.test.ts files.
 */
import * as http from 'node:http';
import type {
  AccountView,
  ApiBackend,
  ChannelView,
  DataDelivery,
  DeviceView,
  EventFilter,
  EventView,
  HealthView,
  LedgerFilter,
  LedgerRow,
  OrderFilter,
  OrderView,
  PointValue,
  Voucher,
  VoucherFilter,
} from '../../gateway/api/backend';
import { EventBus } from '../../gateway/events';
import { InvalidValueError, PointNotWritableError, UnknownDeviceError, UnknownPointError } from '../../gateway/api/errors';
import { MetricsRegistry } from '../../gateway/base/metrics';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdefghijklmnopqrstuvwxyz';
export const BUYER_TOKEN = 'buyer-token-0123456789abcdefghijklmnopqrstuvwxyz';

export const VOUCHER: Voucher = {
  v: 1,
  channel: 'purifier-1>waterworks',
  payer: 'purifier-1',
  payee: 'waterworks',
  payerKey: 'a'.repeat(43),
  seq: 17,
  amount: '12.345000000',
  currency: 'NOK',
  ledgerHead: 'f'.repeat(64),
  issuedAt: '2026-11-25T12:00:00.000Z',
  sig: 'b'.repeat(86),
};

export class FakeBackend implements ApiBackend {
  readonly stream = new EventBus();
  readonly registry = new MetricsRegistry();
  readonly calls = {
    ledger: [] as LedgerFilter[],
    vouchers: [] as VoucherFilter[],
    events: [] as EventFilter[],
    orders: [] as OrderFilter[],
    writes: [] as Array<{ device: string; point: string; value: PointValue }>,
    policies: [] as unknown[][],
  };
  readonly deliveries: DataDelivery[] = [];
  /** Set to make every read route throw this (500 tests). */
  failWith: Error | null = null;

  constructor() {
    const readings = this.registry.counter({
      name: 'm2m_readings_total',
      help: 'Readings taken.\nPer device.',
      labelNames: ['device'],
    });
    readings.inc({ device: 'purifier-1' }, 42);
    readings.inc({ device: 'odd "name"\\x' }, 1);
    this.registry.gauge({ name: 'm2m_links_up', help: 'Links up.', collect: (g) => g.set({}, 1) });
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }

  health(): HealthView {
    return { status: 'ok', version: '0.1.0-test', uptimeS: 12, links: [{ id: 'plant', state: 'up' }] };
  }

  deployPolicies(nodes: unknown[]): { version: number } {
    this.calls.policies.push(nodes);
    return { version: this.calls.policies.length };
  }

  devices(): DeviceView[] {
    this.check();
    return [
      {
        id: 'purifier-1',
        link: 'plant',
        state: 'ok',
        lastReadAt: '2026-11-25T12:00:00.000Z',
        points: {
          water: { value: '1234.000000', unit: 'L', at: '2026-11-25T12:00:00.000Z' },
          valve: { value: true, unit: '', at: '2026-11-25T12:00:00.000Z' },
        },
      },
    ];
  }

  async writePoint(device: string, point: string, value: PointValue): Promise<{ value: PointValue }> {
    this.calls.writes.push({ device, point, value });
    if (device !== 'purifier-1') throw new UnknownDeviceError(device);
    if (point === 'hardness') throw new PointNotWritableError(device, point);
    if (point === 'boom') throw new Error('ENOENT /var/lib/secret/internal.db');
    if (point === 'cycle') {
      if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) > 65535) {
        throw new InvalidValueError('expected an integer 0..65535');
      }
      return { value };
    }
    if (point === 'valve') return { value };
    throw new UnknownPointError(device, point);
  }

  ledger(filter: LedgerFilter): LedgerRow[] {
    this.check();
    this.calls.ledger.push(filter);
    return [
      {
        device: 'purifier-1',
        point: 'water',
        account: 'purifier-1',
        payee: 'waterworks',
        quantity: '1234.000000',
        amount: '12.340000000',
        currency: 'NOK',
      },
    ];
  }

  accounts(): AccountView[] {
    this.check();
    return [{ id: 'purifier-1', unsettled: '0.005000000', vouchered: '12.345000000', currency: 'NOK' }];
  }

  channels(): ChannelView[] {
    this.check();
    return [
      {
        id: 'purifier-1>waterworks',
        payer: 'purifier-1',
        payee: 'waterworks',
        accrued: '12.350000000',
        vouchered: '12.345000000',
        lastSeq: 17,
      },
    ];
  }

  vouchers(filter: VoucherFilter): Voucher[] {
    this.check();
    this.calls.vouchers.push(filter);
    return [VOUCHER];
  }

  events(filter: EventFilter): EventView[] {
    this.check();
    this.calls.events.push(filter);
    return [{ id: '1', kind: 'alarm', at: '2026-11-25T12:00:00.000Z', device: 'purifier-1', point: 'cartridge' }];
  }

  orders(filter: OrderFilter): OrderView[] {
    this.check();
    this.calls.orders.push(filter);
    return [];
  }

  metrics(): MetricsRegistry {
    return this.registry;
  }

  meterDelivery(d: DataDelivery): void {
    this.deliveries.push(d);
  }
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: unknown;
}

/** One HTTP request with node:http (full control over headers and body). */
export function request(
  baseUrl: string,
  method: string,
  path: string,
  opts: { token?: string; headers?: Record<string, string>; body?: string | Buffer; chunks?: Buffer[] } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
    const req = http.request(`${baseUrl}${path}`, { method, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

/** Fill `:params` of a route pattern with values the fake backend knows. */
export function samplePath(pattern: string): string {
  return pattern.replace(':id', 'purifier-1').replace(':point', 'cycle');
}
