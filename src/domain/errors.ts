/**
 * Domain errors. An error says what kind of failure it is; each API maps
 * kinds to its own status codes and error body in its error-format plugin
 * (src/controller/api/<api>/errorFormat.ts, through api/errors.ts), so the
 * domain knows nothing of HTTP. Handlers never build error bodies by hand.
 */
export type ErrorKind = 'bad-request' | 'unauthorized' | 'forbidden' | 'not-found' | 'not-acceptable' | 'conflict' | 'internal'
  /** The call exists but this deployment cannot answer it (a host uptime the agents do not report). */
  | 'not-implemented';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /**
     * Which failure of its kind, for an API that names it (networking shows it
     * as NeutronError.type: 'PortNotFound', 'IpAddressAlreadyAllocated', …);
     * absent for the kind's plain case.
     */
    readonly reason?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
export class BadRequest extends DomainError {
  constructor(message: string, reason?: string) { super('bad-request', message, reason); }
}
export class Unauthorized extends DomainError {
  constructor(message = 'The request you have made requires authentication.') { super('unauthorized', message); }
}
export class Forbidden extends DomainError {
  constructor(message: string, reason?: string) { super('forbidden', message, reason); }
}
export class NotFound extends DomainError {
  constructor(message: string, reason?: string) { super('not-found', message, reason); }
}
export class Conflict extends DomainError {
  constructor(message: string, reason?: string) { super('conflict', message, reason); }
}
/** Something on our side failed (a timeout, a missing service); not the caller's fault. */
export class InternalError extends DomainError {
  constructor(message: string) { super('internal', message); }
}
/** The claim transaction lost a race; the caller retries with fresh data. */
export class ClaimConflict extends Error {
  constructor(message: string) { super(message); this.name = 'ClaimConflict'; }
}
