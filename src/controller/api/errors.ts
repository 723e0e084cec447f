import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type ErrorKind } from '../../domain/errors.js';
import { pythonRepr } from './schemaValidation.js';

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

/** jsonschema's reason for the first failure, as Nova quotes it after "Value: …". */
function schemaReason(first: NonNullable<FastifyError['validation']>[number], value: unknown): string {
  const params = first.params as Record<string, unknown>;
  const v = pythonRepr(value);
  // A property name refused by propertyNames (a metadata key of characters Nova does not allow).
  const propertyName = (first as { propertyName?: string }).propertyName;
  if (propertyName !== undefined) return `Additional properties are not allowed ('${propertyName}' was unexpected)`;
  switch (first.keyword) {
    case 'type': return `${v} is not of type ${String(params.type).split(',').map((t) => `'${t}'`).join(', ')}`;
    case 'required': return `'${String(params.missingProperty)}' is a required property`;
    case 'minLength': return `${v} is too short`;
    case 'maxLength': return `${v} is too long`;
    case 'minItems': return `${v} is too short`;
    case 'maxItems': return `${v} is too long`;
    case 'minProperties': return `${v} does not have enough properties`;
    case 'maxProperties': return `${v} has too many properties`;
    case 'additionalProperties': return `Additional properties are not allowed ('${String(params.additionalProperty)}' was unexpected)`;
    case 'enum': return `${v} is not one of [${(params.allowedValues as unknown[]).map(pythonRepr).join(', ')}]`;
    case 'pattern': return `${v} does not match '${String(params.pattern)}'`;
    case 'minimum': return `${v} is less than the minimum of ${String(params.limit)}`;
    case 'maximum': return `${v} is greater than the maximum of ${String(params.limit)}`;
    case 'exclusiveMinimum': return `${v} is less than or equal to the minimum of ${String(params.limit)}`;
    default: return first.message ?? 'is invalid';
  }
}

/**
 * Nova's wording of a schema failure: "Invalid input for field/attribute name.
 * Value: 1. 1 is not of type 'string'" (jsonschema's message for the first
 * error; "query parameters" for a query string, as Nova's query schemas say).
 */
function schemaMessage(fe: FastifyError, req: FastifyRequest): string {
  const first = fe.validation![0]!;
  const part = fe.validationContext ?? 'body';
  const root = (req as unknown as Record<string, unknown>)[part === 'querystring' ? 'query' : part];
  const segments = first.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const value = segments.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), root);
  const extra = first.keyword === 'additionalProperties' ? String((first.params as Record<string, unknown>).additionalProperty) : undefined;
  const field = segments.at(-1) ?? extra ?? part;
  // Nova gives jsonschema's bare message for a failure at the top of the document.
  if (segments.length === 0 && part === 'body') return schemaReason(first, value);
  const where = part === 'querystring' ? 'query parameters' : 'field/attribute';
  // Nova formats the value with %s: a string bare, anything else as Python shows it.
  const shown = typeof value === 'string' ? value : pythonRepr(value);
  return `Invalid input for ${where} ${field}. Value: ${shown}. ${schemaReason(first, value)}`;
}

function apiErrorOf(err: unknown, req: FastifyRequest): ApiError {
  if (err instanceof DomainError) return { kind: err.kind, message: err.message, reason: err.reason };
  const fe = err as FastifyError;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const message = fe.validation?.length ? schemaMessage(fe, req) : fe.message;
    return { kind: null, status: fe.statusCode, message };
  }
  return { kind: 'internal', message: 'An unexpected error occurred; it has been logged.' };
}

/** Makes every error raised inside this plugin scope answer in the API's own format. */
export function useErrorFormat(app: FastifyInstance, format: ErrorFormat): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const error = apiErrorOf(err, req);
    const status = error.kind !== null ? format.statusOf(error.kind) : error.status!;
    if (status >= 500) req.log.error({ err }, 'request failed');
    void reply.code(status).type('application/json').send(format.body(status, error));
  });
  app.setNotFoundHandler((req, reply) => {
    const error: ApiError = { kind: null, status: 404, message: `The resource could not be found: ${req.method} ${req.url}`, reason: 'HTTPNotFound' };
    void reply.code(404).type('application/json').send(format.body(404, error));
  });
}
