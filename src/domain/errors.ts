/**
 * Domain errors. Each API edge maps them to its own error format in one place
 * (src/controller/api/errors.ts); handlers never build error bodies by hand.
 */
export class DomainError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Networking's error type name (NeutronError.type), e.g. InvalidInput. */
    readonly kind: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
export class BadRequest extends DomainError {
  constructor(message: string, kind = 'InvalidInput') { super(400, message, kind); }
}
export class Unauthorized extends DomainError {
  constructor(message = 'The request you have made requires authentication.') { super(401, message, 'Unauthorized'); }
}
export class Forbidden extends DomainError {
  constructor(message: string, kind = 'PolicyNotAuthorized') { super(403, message, kind); }
}
export class NotFound extends DomainError {
  constructor(message: string, kind = 'NotFound') { super(404, message, kind); }
}
export class Conflict extends DomainError {
  constructor(message: string, kind = 'Conflict') { super(409, message, kind); }
}
/** The claim transaction lost a race; the caller retries with fresh data. */
export class ClaimConflict extends Error {
  constructor(message: string) { super(message); this.name = 'ClaimConflict'; }
}
