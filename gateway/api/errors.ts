/**
 * Coded errors of the API area. Their codes and HTTP statuses are declared
 * once, in base/error-codes.ts; ApiError takes the status from there.
 *
 * The backend (the daemon) throws these for client-facing conditions
 * (unknown device, point not writable, write not confirmed...). Anything
 * else that escapes a handler becomes a 500 `GW_ERR_INTERNAL` whose message
 * carries only the request id; the details go to the log, never to the client.
 */
import { httpStatusOf, type ErrorCode, type HttpErrorCode } from '../base/error-codes';
import { GatewayError } from '../base/errors';

/** An error with an HTTP answer. `field` names the offending input for 400s. */
export class ApiError extends GatewayError {
  readonly status: number;
  readonly field: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: HttpErrorCode, message: string, opts: { field?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = httpStatusOf(code);
    this.field = opts.field;
    this.headers = opts.headers ?? {};
  }
}

/** 400: a query parameter, path parameter or body field is wrong; `field` names it (`from`, `body.value`). */
export class BadRequestError extends ApiError {
  constructor(field: string, message: string) {
    super('GW_ERR_BAD_REQUEST', `${field}: ${message}`, { field });
  }
}

/** 400: the request body is not valid JSON. */
export class MalformedJsonError extends ApiError {
  constructor(detail: string) {
    super('GW_ERR_MALFORMED_JSON', `request body is not valid JSON: ${detail}`, { field: 'body' });
  }
}

/** 400: the value does not fit the point (range, type). Thrown by the backend's writePoint. */
export class InvalidValueError extends ApiError {
  constructor(message: string) {
    super('GW_ERR_INVALID_VALUE', `value: ${message}`, { field: 'value' });
  }
}

/** 401: no bearer token, or a token nobody knows. Always with `WWW-Authenticate: Bearer`. */
export class UnauthorizedError extends ApiError {
  constructor(message: string, invalidToken: boolean) {
    const challenge = invalidToken ? 'Bearer realm="m2m-gateway", error="invalid_token"' : 'Bearer realm="m2m-gateway"';
    super('GW_ERR_UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': challenge } });
  }
}

/** 403: a valid token whose principal may not use this route (a buyer token on an admin route). */
export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super('GW_ERR_FORBIDDEN', message);
  }
}

/** 404: no route at this path. */
export class RouteNotFoundError extends ApiError {
  constructor(path: string) {
    super('GW_ERR_NOT_FOUND', `no route ${JSON.stringify(path)}`);
  }
}

/** 404: thrown by the backend for a device id it does not know. */
export class UnknownDeviceError extends ApiError {
  constructor(device: string) {
    super('GW_ERR_UNKNOWN_DEVICE', `unknown device ${JSON.stringify(device)}`, { field: 'id' });
  }
}

/** 404: thrown by the backend for a point the device does not have. */
export class UnknownPointError extends ApiError {
  constructor(device: string, point: string) {
    super('GW_ERR_UNKNOWN_POINT', `device ${JSON.stringify(device)} has no point ${JSON.stringify(point)}`, {
      field: 'point',
    });
  }
}

/** 405: the path exists, the method does not; `Allow` lists the methods that do. */
export class MethodNotAllowedError extends ApiError {
  constructor(method: string, allow: readonly string[]) {
    super('GW_ERR_METHOD_NOT_ALLOWED', `method ${method} not allowed here (allowed: ${allow.join(', ')})`, {
      headers: { Allow: allow.join(', ') },
    });
  }
}

/** 409: thrown by the backend when the point exists but is not `writable: true`. */
export class PointNotWritableError extends ApiError {
  constructor(device: string, point: string) {
    super('GW_ERR_POINT_NOT_WRITABLE', `point ${JSON.stringify(point)} of ${JSON.stringify(device)} is not writable`);
  }
}

/** 413: the request body passed the limit (64 KiB by default). */
export class BodyTooLargeError extends ApiError {
  constructor(limitBytes: number) {
    super('GW_ERR_BODY_TOO_LARGE', `request body larger than ${limitBytes} bytes`, {
      headers: { Connection: 'close' },
    });
  }
}

/** 415: a body that is not `application/json`. */
export class UnsupportedMediaTypeError extends ApiError {
  constructor(contentType: string | undefined) {
    super('GW_ERR_UNSUPPORTED_MEDIA_TYPE', `content type ${JSON.stringify(contentType ?? '')} not supported, send application/json`);
  }
}

/** 426: a plain GET on the WebSocket route. */
export class UpgradeRequiredError extends ApiError {
  constructor() {
    super('GW_ERR_UPGRADE_REQUIRED', 'this route speaks WebSocket only', {
      headers: { Upgrade: 'websocket', Connection: 'Upgrade' },
    });
  }
}

/**
 * 502: the device did not confirm a write (timeout, exception, read-back
 * differs). `reason` is shown to the client; put the link-level error in `cause`.
 */
export class WriteFailedError extends ApiError {
  constructor(device: string, point: string, reason: string, cause?: unknown) {
    super('GW_ERR_WRITE_FAILED', `write to ${device}/${point} not confirmed: ${reason}`, { cause });
  }
}

/** 503: the backend cannot answer now (starting, shutting down). */
export class UnavailableError extends ApiError {
  constructor(message: string) {
    super('GW_ERR_UNAVAILABLE', message, { headers: { 'Retry-After': '5' } });
  }
}

/** 500: anything unexpected. The message never carries internals, only the request id. */
export class InternalError extends ApiError {
  constructor(requestId: string) {
    super('GW_ERR_INTERNAL', `internal error (request ${requestId}); see the gateway log`);
  }
}

/** Secrets file problems (unreadable, malformed, unsafe). Not an HTTP error: raised at start-up. */
export class SecretsError extends GatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GW_ERR_SECRETS', message, options);
  }
}

/** 409: policies are pushed over the API while the embedded editor owns flows.json. */
export class EditorOwnsFlowsError extends ApiError {
  constructor() {
    super(
      'GW_ERR_EDITOR_OWNS_FLOWS',
      'the embedded Node-RED editor owns flows.json on this gateway; set http.editor: false to manage its policies from another Node-RED',
    );
  }
}

/** 400: a pushed policy set does not compile; `problems` name the nodes, the previous policies stay active. */
export class PoliciesRejectedError extends ApiError {
  readonly problems: ReadonlyArray<{ nodeId?: string; message: string }>;
  constructor(message: string, problems: ReadonlyArray<{ nodeId?: string; message: string }>) {
    super('GW_ERR_POLICY_REJECTED', message, { field: 'body.nodes' });
    this.problems = problems;
  }
}

/** The JSON error body every failing route answers with. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string; problems?: ReadonlyArray<{ nodeId?: string; message: string }> };
}

export function errorBody(e: ApiError): ErrorBody {
  const error: ErrorBody['error'] = { code: e.code, message: e.message };
  if (e.field !== undefined) error.field = e.field;
  if (e instanceof PoliciesRejectedError) error.problems = e.problems;
  return { error };
}

/** The ApiError to answer with: API errors as they are, everything else an opaque 500. */
export function toApiError(e: unknown, requestId: string): ApiError {
  return e instanceof ApiError ? e : new InternalError(requestId);
}
