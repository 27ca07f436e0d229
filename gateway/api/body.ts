/**
 * Reading a JSON request body with a hard size limit: the declared
 * Content-Length is checked before a byte is read, the streamed length while
 * reading (chunked bodies), so a huge body never lands in memory.
 */
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, MalformedJsonError, UnsupportedMediaTypeError } from './errors';

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** application/json or application/<x>+json; a charset, if given, must be utf-8. */
export function isJsonContentType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const [type, ...params] = ct.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type ?? '')) return false;
  for (const p of params) {
    const [k, v] = p.split('=').map((s) => s.trim());
    if (k === 'charset' && v !== 'utf-8' && v !== 'utf8' && v !== '"utf-8"') return false;
  }
  return true;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The parsed JSON body; 415 for another media type, 413 past `limit` bytes, 400 for bad JSON. */
export async function readJsonBody(req: IncomingMessage, limit: number = DEFAULT_BODY_LIMIT): Promise<unknown> {
  const ct = req.headers['content-type'];
  if (!isJsonContentType(ct)) throw new UnsupportedMediaTypeError(ct);
  const body = await readBodyBytes(req, limit);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new MalformedJsonError('not UTF-8');
  }
  if (text.trim() === '') throw new MalformedJsonError('empty body');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new MalformedJsonError((e as Error).message.slice(0, 200));
  }
}

/** The raw request body; 413 (BodyTooLargeError) past `limit` bytes, declared or streamed. */
export async function readBodyBytes(req: IncomingMessage, limit: number = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const size = await streamBody(req, limit, (chunk) => chunks.push(chunk));
  return Buffer.concat(chunks, size);
}

/**
 * Read and drop a body the route does not take, so the answer goes out only
 * after the request has fully arrived: answering (and closing) while the
 * client still sends makes TCP reset the connection, and the reset discards
 * the answer. 413 past `limit` bytes, like a body that is read.
 */
export async function discardBody(req: IncomingMessage, limit: number = DEFAULT_BODY_LIMIT): Promise<void> {
  if (req.complete || req.readableEnded) return;
  await streamBody(req, limit, () => undefined);
}

/** Stream the body into `sink`, refusing it (BodyTooLargeError) past `limit` bytes; resolves with its size. */
async function streamBody(req: IncomingMessage, limit: number, sink: (chunk: Buffer) => void): Promise<number> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new BodyTooLargeError(limit);
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(new BodyTooLargeError(limit));
        return;
      }
      sink(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve();
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onAborted = (): void => {
      cleanup();
      reject(new Error('request aborted by the client'));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onAborted);
  });
  return size;
}
