import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden, InternalError, NotFound, Unauthorized } from '../../../domain/errors.js';
import type { ControllerContext } from '../../context.js';
import { verifyAgainstNothing, verifyPassword } from '../../services/passwords.js';
import type { IssuingTokenService } from '../../services/tokens.js';
import { findProject, findUser, isDefaultDomain, projectsOfUser } from '../../services/directory.js';
import { tokenView } from './views.js';
import { tokenSchemas } from './schemas.js';
import { passwordFailed, passwordSucceeded, refuseIfLocked } from '../../services/lockout.js';

type Json = Record<string, unknown>;

function obj(v: unknown, where: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest(`Expecting to find ${where} in request body.`);
  return v as Json;
}
function optStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** ctx.tokens is typed as verify-only; identity needs the full service the controller builds. */
export function tokenIssuer(ctx: ControllerContext): IssuingTokenService {
  const t = ctx.tokens as Partial<IssuingTokenService>;
  if (typeof t.issue !== 'function' || typeof t.lookup !== 'function' || typeof t.revoke !== 'function') {
    throw new InternalError('The token service in this controller cannot issue tokens.');
  }
  return t as IssuingTokenService;
}

const BAD_CREDENTIALS = 'The request you have made requires authentication.';

/** Who is authenticating: by password (user by id, or name in the Default domain) or by an existing token. */
async function authenticateIdentity(ctx: ControllerContext, identity: Json): Promise<{ userId: string; defaultProjectId: string | null }> {
  const methods = identity.methods;
  if (!Array.isArray(methods) || methods.length === 0) throw new BadRequest('Expecting to find methods in identity.');
  if (methods.includes('password')) {
    const password = obj(identity.password, 'password');
    const user = obj(password.user, 'user');
    const secret = optStr(user.password);
    if (secret === undefined) throw new BadRequest('Expecting to find password in user.');
    const id = optStr(user.id);
    const name = optStr(user.name);
    if (id === undefined && name === undefined) throw new BadRequest('Expecting to find id or name in user.');
    if (id === undefined && user.domain === undefined) throw new BadRequest('Expecting to find domain in user.');
    const domainOk = id !== undefined || isDefaultDomain(obj(user.domain, 'domain'));
    const row = domainOk ? await findUser(ctx.store.reader, id !== undefined ? { id } : { name }) : undefined;
    if (!row) {
      await verifyAgainstNothing(secret);
      throw new Unauthorized(BAD_CREDENTIALS);
    }
    refuseIfLocked(row, ctx.config);
    if (!(await verifyPassword(secret, row.password_hash))) {
      await passwordFailed(ctx.store, row, ctx.config);
      throw new Unauthorized(BAD_CREDENTIALS);
    }
    if (row.enabled !== 1) throw new Unauthorized(BAD_CREDENTIALS);
    await passwordSucceeded(ctx.store, row);
    return { userId: row.id, defaultProjectId: row.default_project_id };
  }
  if (methods.includes('token')) {
    const tokenRef = obj(identity.token, 'token');
    const rec = await tokenIssuer(ctx).lookup(optStr(tokenRef.id) ?? '');
    if (!rec) throw new Unauthorized(BAD_CREDENTIALS);
    return { userId: rec.auth.userId, defaultProjectId: rec.auth.projectId };
  }
  throw new Unauthorized(`Attempted to authenticate with an unsupported method: ${methods.join(', ')}.`);
}

/** The project the token will be scoped to; unscoped requests get the user's default project. */
async function resolveScope(ctx: ControllerContext, scope: unknown, user: { userId: string; defaultProjectId: string | null }): Promise<string> {
  const db = ctx.store.reader;
  const mine = await projectsOfUser(db, user.userId);
  if (scope === undefined || scope === null || scope === 'unscoped') {
    const preferred = mine.find((p) => p.id === user.defaultProjectId) ?? mine[0];
    if (!preferred) throw new Unauthorized('The user has no role on any project.');
    return preferred.id;
  }
  const s = obj(scope, 'scope');
  if (s.project === undefined) throw new Unauthorized('Only project-scoped tokens are supported.');
  const p = obj(s.project, 'project');
  const id = optStr(p.id);
  const name = optStr(p.name);
  if (id === undefined && name === undefined) throw new BadRequest('Expecting to find id or name in project.');
  if (id === undefined && p.domain === undefined) throw new BadRequest('Expecting to find domain in project.');
  if (id === undefined && !isDefaultDomain(obj(p.domain, 'domain'))) throw new Unauthorized(`Could not find project: ${name}.`);
  const project = await findProject(db, id !== undefined ? { id } : { name });
  if (!project || project.enabled !== 1) throw new Unauthorized(`Could not find project: ${id ?? name}.`);
  if (!mine.some((m) => m.id === project.id)) {
    throw new Unauthorized(`User ${user.userId} has no access to project ${project.id}.`);
  }
  return project.id;
}

function subjectToken(req: FastifyRequest): string {
  const h = req.headers['x-subject-token'];
  const token = Array.isArray(h) ? h[0] : h;
  if (!token) throw new BadRequest('Expecting to find X-Subject-Token in request headers.');
  return token;
}

/** Validation and revocation: admins and services for any token, anyone for their own. */
function mayInspect(req: FastifyRequest, subjectUserId: string): boolean {
  return req.auth.isAdmin || req.auth.isService || req.auth.userId === subjectUserId;
}

export function registerTokenIssue(app: FastifyInstance, ctx: ControllerContext): void {
  app.post('/v3/auth/tokens', { schema: tokenSchemas.issue }, async (req, reply) => {
    const auth = obj(obj(req.body, 'auth').auth, 'auth');
    const identity = obj(auth.identity, 'identity');
    const user = await authenticateIdentity(ctx, identity);
    const projectId = await resolveScope(ctx, auth.scope, user);
    const issued = await tokenIssuer(ctx).issue({ userId: user.userId, projectId });
    const methods = (identity.methods as unknown[]).filter((m): m is string => typeof m === 'string');
    const noCatalog = (req.query as Json).nocatalog !== undefined;
    void reply.code(201).header('x-subject-token', issued.token);
    return tokenView(issued, ctx.publicUrl, methods, !noCatalog);
  });
}

export function registerTokenInspection(app: FastifyInstance, ctx: ControllerContext): void {
  app.get('/v3/auth/tokens', { schema: tokenSchemas.validate }, async (req) => {
    const rec = await tokenIssuer(ctx).lookup(subjectToken(req));
    if (!rec) throw new NotFound('Could not find token.', 'TokenNotFound');
    if (!mayInspect(req, rec.auth.userId)) throw new Forbidden('You are not authorized to perform the requested action: identity:validate_token.');
    const noCatalog = (req.query as Json).nocatalog !== undefined;
    return tokenView(rec, ctx.publicUrl, ['password'], !noCatalog);
  });

  app.delete('/v3/auth/tokens', { schema: tokenSchemas.revoke }, async (req, reply) => {
    const token = subjectToken(req);
    const issuer = tokenIssuer(ctx);
    const rec = await issuer.lookup(token);
    if (!rec) throw new NotFound('Could not find token.', 'TokenNotFound');
    if (!mayInspect(req, rec.auth.userId)) throw new Forbidden('You are not authorized to perform the requested action: identity:revoke_token.');
    await issuer.revoke(token);
    return reply.code(204).send();
  });
}
