/**
 * Writing answers: JSON and text results, the coded error body, and the
 * plain-HTTP refusal of a WebSocket upgrade. Every answer carries
 * `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ApiError, errorBody } from './errors';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export type RouteResult = { status?: number; json: unknown } | { status?: number; text: string; contentType: string };

const COMMON_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' } as const;

/** JSON.stringify that refuses bigint with a clear message (money must be a decimal string, §3). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => {
    if (typeof v === 'bigint') {
      throw new TypeError(`backend returned a bigint at "${key}": money and quantities must be decimal strings`);
    }
    return v;
  });
}

export function sendResult(res: ServerResponse, result: RouteResult): void {
  const isJson = 'json' in result;
  const body = isJson ? toJson(result.json) : result.text;
  res.writeHead(result.status ?? 200, {
    ...COMMON_HEADERS,
    'Content-Type': isJson ? JSON_CONTENT_TYPE : result.contentType,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(err));
  res.writeHead(err.status, {
    ...COMMON_HEADERS,
    ...err.headers,
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answer an upgrade with a plain HTTP error (the same JSON body as the REST routes) and close. */
export function rejectUpgrade(socket: Duplex, e: ApiError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(e));
  const headers: Record<string, string> = {
    ...COMMON_HEADERS,
    ...e.headers,
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  socket.end(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ''}\r\n${head}\r\n\r\n${body}`, () => socket.destroy());
}
