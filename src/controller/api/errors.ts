import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.js';

export type ApiFormat = 'compute' | 'network' | 'identity' | 'image';

const COMPUTE_KEYS: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  500: 'computeFault',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};
const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Request Entity Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error',
};

/** The body each API uses for an error (openstack-cli-contract.md §5). */
export function errorBody(format: ApiFormat, status: number, message: string, kind = 'Error'): unknown {
  switch (format) {
    case 'compute':
      return { [COMPUTE_KEYS[status] ?? 'computeFault']: { code: status, message } };
    case 'network':
      return { NeutronError: { type: kind, message, detail: '' } };
    case 'identity':
      return { error: { code: status, title: TITLES[status] ?? 'Error', message } };
    case 'image':
      return { code: status, title: TITLES[status] ?? 'Error', message };
  }
}

function statusAndMessage(err: unknown): { status: number; message: string; kind: string } {
  if (err instanceof DomainError) return { status: err.status, message: err.message, kind: err.kind };
  const fe = err as FastifyError;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const kind = fe.statusCode === 404 ? 'NotFound' : fe.statusCode === 415 ? 'UnsupportedMediaType' : 'InvalidInput';
    let message = fe.message;
    if (fe.validation) message = `Invalid input for field/attribute ${fe.validationContext ?? 'body'}: ${fe.message}`;
    return { status: fe.statusCode, message, kind };
  }
  return { status: 500, message: 'An unexpected error occurred; it has been logged.', kind: 'InternalError' };
}

/** Makes every error raised inside this plugin scope answer in the API's own format. */
export function useErrorFormat(app: FastifyInstance, format: ApiFormat): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, message, kind } = statusAndMessage(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    void reply.code(status).type('application/json').send(errorBody(format, status, message, kind));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type('application/json')
      .send(errorBody(format, 404, `The resource could not be found: ${req.method} ${req.url}`, 'HTTPNotFound'));
  });
}
