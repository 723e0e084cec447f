import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type ErrorKind } from '../../domain/errors.js';

/** What went wrong, before an API gives it its status code and body. */
export interface ApiError {
  /** The domain error's kind; null for an error of the HTTP layer (validation, media type, no route), which has `status`. */
  kind: ErrorKind | null;
  /** Set when kind is null. */
  status?: number;
  message: string;
  /** The domain error's reason, or the HTTP layer's ('HTTPNotFound' for no route). */
  reason?: string;
}

/**
 * One API's error format (each API owns one: compute/errorFormat.ts,
 * network/…, identity/…, image/…): the status code of each kind of domain
 * error, and the body an error is answered with.
 */
export interface ErrorFormat {
  statusOf(kind: ErrorKind): number;
  body(status: number, error: ApiError): unknown;
}

export const HTTP_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Request Entity Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error',
};

function apiErrorOf(err: unknown): ApiError {
  if (err instanceof DomainError) return { kind: err.kind, message: err.message, reason: err.reason };
  const fe = err as FastifyError;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    let message = fe.message;
    if (fe.validation) message = `Invalid input for field/attribute ${fe.validationContext ?? 'body'}: ${fe.message}`;
    return { kind: null, status: fe.statusCode, message };
  }
  return { kind: 'internal', message: 'An unexpected error occurred; it has been logged.' };
}

/** Makes every error raised inside this plugin scope answer in the API's own format. */
export function useErrorFormat(app: FastifyInstance, format: ErrorFormat): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const error = apiErrorOf(err);
    const status = error.kind !== null ? format.statusOf(error.kind) : error.status!;
    if (status >= 500) req.log.error({ err }, 'request failed');
    void reply.code(status).type('application/json').send(format.body(status, error));
  });
  app.setNotFoundHandler((req, reply) => {
    const error: ApiError = { kind: null, status: 404, message: `The resource could not be found: ${req.method} ${req.url}`, reason: 'HTTPNotFound' };
    void reply.code(404).type('application/json').send(format.body(404, error));
  });
}
