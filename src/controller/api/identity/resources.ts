import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden, NotFound } from '../../../domain/errors.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import {
  ROLES, assignRole, createProject, createUser, findProject, findUser, isDefaultDomain, isRole, lockPassword, projectsOfUser,
  type RoleName,
} from '../../services/directory.js';
import { hasRole, listProjects, listRoleAssignments, listUsers, rolesOn } from '../../../storage/repositories/identity.js';
import { deleteUser, revokeGrant, updateProject, updateUser } from '../../services/identityChanges.js';
import { hashPassword } from '../../services/passwords.js';
import { collectionLinks, projectView, roleView, userView } from './views.js';
import { resourceSchemas } from './schemas.js';

type Json = Record<string, unknown>;

function entity(body: unknown, key: string): Json {
  const b = body as Json | undefined;
  const v = b?.[key];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest(`Expecting to find ${key} in request body.`);
  return v as Json;
}
function str(v: unknown, field: string, required: boolean): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw new BadRequest(`'${field}' is a required property`);
    return undefined;
  }
  if (typeof v !== 'string') throw new BadRequest(`Invalid input for field '${field}': not a string`);
  return v;
}
function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new BadRequest(`Invalid input for field '${field}': ${JSON.stringify(v)} is not of type 'boolean'`);
  return v;
}
function domainOf(e: Json): void {
  if (e.domain_id !== undefined && !isDefaultDomain({ id: e.domain_id })) throw new BadRequest(`Could not find domain: ${String(e.domain_id)}.`);
}
function forbidden(action: string): Forbidden {
  return new Forbidden(`You are not authorized to perform the requested action: identity:${action}.`);
}
function allowAdmin(req: FastifyRequest, action: string): void {
  try {
    requireAdmin(req, action);
  } catch {
    throw forbidden(action);
  }
}

async function requireRoleTarget(ctx: ControllerContext, params: { p: string; u: string; r: string }) {
  const project = await findProject(ctx.store.reader, { id: params.p });
  if (!project) throw new NotFound(`Could not find project: ${params.p}.`);
  const user = await findUser(ctx.store.reader, { id: params.u });
  if (!user) throw new NotFound(`Could not find user: ${params.u}.`);
  if (!isRole(params.r)) throw new NotFound(`Could not find role: ${params.r}.`);
  return { project, user, role: params.r as RoleName };
}

export function registerIdentityResources(app: FastifyInstance, ctx: ControllerContext): void {
  const db = ctx.store.reader;

  app.get('/v3/projects', { schema: resourceSchemas.listProjects }, async (req) => {
    allowAdmin(req, 'list_projects');
    const q = req.query as Json;
    if (typeof q.domain_id === 'string' && q.domain_id !== 'default') return { projects: [], links: collectionLinks(ctx.publicUrl, '/projects') };
    const rows = await listProjects(db, { name: typeof q.name === 'string' ? q.name : undefined });
    return { projects: rows.map((p) => projectView(p, ctx.publicUrl)), links: collectionLinks(ctx.publicUrl, '/projects') };
  });

  app.get<{ Params: { id: string } }>('/v3/projects/:id', { schema: resourceSchemas.showProject }, async (req) => {
    const mine = req.auth.projectId === req.params.id
      || (await projectsOfUser(db, req.auth.userId)).some((p) => p.id === req.params.id);
    if (!req.auth.isAdmin && !mine) throw forbidden('get_project');
    const project = await findProject(db, { id: req.params.id });
    if (!project) throw new NotFound(`Could not find project: ${req.params.id}.`);
    return { project: projectView(project, ctx.publicUrl) };
  });

  app.post('/v3/projects', { schema: resourceSchemas.createProject }, async (req, reply) => {
    allowAdmin(req, 'create_project');
    const p = entity(req.body, 'project');
    domainOf(p);
    const created = await ctx.store.transact((u) => createProject(u, {
      name: str(p.name, 'name', true)!,
      description: str(p.description, 'description', false),
      enabled: p.enabled !== false,
    }));
    return reply.code(201).send({ project: projectView(created, ctx.publicUrl) });
  });

  // `openstack project set --disable/--enable/--name/--description`: disabling ends the project's tokens.
  app.patch<{ Params: { id: string } }>('/v3/projects/:id', { schema: resourceSchemas.updateProject }, async (req) => {
    allowAdmin(req, 'update_project');
    const p = entity(req.body, 'project');
    domainOf(p);
    const updated = await ctx.store.transact((u) => updateProject(u, req.params.id, {
      name: str(p.name, 'name', false), description: str(p.description, 'description', false), enabled: bool(p.enabled, 'enabled'),
    }));
    return { project: projectView(updated, ctx.publicUrl) };
  });

  // `openstack user set --disable/--enable/--password/--name/--project`: disabling ends the user's tokens.
  app.patch<{ Params: { id: string } }>('/v3/users/:id', { schema: resourceSchemas.updateUser }, async (req) => {
    allowAdmin(req, 'update_user');
    const u = entity(req.body, 'user');
    domainOf(u);
    const defaultProjectId = u.default_project_id === null ? null : str(u.default_project_id, 'default_project_id', false);
    const changes = {
      name: str(u.name, 'name', false), enabled: bool(u.enabled, 'enabled'), password: str(u.password, 'password', false),
      ...(defaultProjectId !== undefined ? { defaultProjectId } : {}),
    };
    // Hashed before the transaction: scrypt is slow and needs no database.
    const passwordHash = changes.password !== undefined ? await hashPassword(changes.password) : undefined;
    const updated = await ctx.store.transact((u) => updateUser(u, req.params.id, { ...changes, passwordHash }));
    return { user: userView(updated, ctx.publicUrl) };
  });

  // `openstack user delete`: the user, its role assignments and its tokens are gone.
  app.delete<{ Params: { id: string } }>('/v3/users/:id', { schema: resourceSchemas.deleteUser }, async (req, reply) => {
    allowAdmin(req, 'delete_user');
    await ctx.store.transact((u) => deleteUser(u, req.params.id));
    return reply.code(204).send();
  });

  app.get('/v3/users', { schema: resourceSchemas.listUsers }, async (req) => {
    allowAdmin(req, 'list_users');
    const q = req.query as Json;
    const rows = await listUsers(db, { name: typeof q.name === 'string' ? q.name : undefined });
    return { users: rows.map((u) => userView(u, ctx.publicUrl)), links: collectionLinks(ctx.publicUrl, '/users') };
  });

  app.get<{ Params: { id: string } }>('/v3/users/:id', { schema: resourceSchemas.showUser }, async (req) => {
    if (!req.auth.isAdmin && req.auth.userId !== req.params.id) throw forbidden('get_user');
    const user = await findUser(db, { id: req.params.id });
    if (!user) throw new NotFound(`Could not find user: ${req.params.id}.`);
    return { user: userView(user, ctx.publicUrl) };
  });

  app.get<{ Params: { id: string } }>('/v3/users/:id/projects', { schema: resourceSchemas.userProjects }, async (req) => {
    if (!req.auth.isAdmin && req.auth.userId !== req.params.id) throw forbidden('list_user_projects');
    const projects = await projectsOfUser(db, req.params.id);
    return { projects: projects.map((p) => projectView(p, ctx.publicUrl)), links: collectionLinks(ctx.publicUrl, `/users/${req.params.id}/projects`) };
  });

  app.post('/v3/users', { schema: resourceSchemas.createUser }, async (req, reply) => {
    allowAdmin(req, 'create_user');
    const u = entity(req.body, 'user');
    domainOf(u);
    const defaultProjectId = str(u.default_project_id, 'default_project_id', false);
    if (defaultProjectId && !(await findProject(db, { id: defaultProjectId }))) {
      throw new BadRequest(`Could not find project: ${defaultProjectId}.`);
    }
    // A user created without a password cannot log in until one is set; an empty hash never verifies.
    const password = str(u.password, 'password', false);
    const created = await ctx.store.transact(async (unit) => {
      const user = await createUser(unit, {
        name: str(u.name, 'name', true)!,
        password: password ?? '',
        defaultProjectId: defaultProjectId ?? null,
        enabled: u.enabled !== false,
      });
      if (password === undefined) await lockPassword(unit, user.id);
      return user;
    });
    return reply.code(201).send({ user: userView(created, ctx.publicUrl) });
  });

  app.get('/v3/roles', { schema: resourceSchemas.listRoles }, async (req) => {
    allowAdmin(req, 'list_roles');
    const name = (req.query as Json).name;
    const roles = ROLES.filter((r) => typeof name !== 'string' || r === name);
    return { roles: roles.map((r) => roleView(r, ctx.publicUrl)), links: collectionLinks(ctx.publicUrl, '/roles') };
  });

  app.get<{ Params: { id: string } }>('/v3/roles/:id', { schema: resourceSchemas.showRole }, async (req) => {
    allowAdmin(req, 'get_role');
    if (!isRole(req.params.id)) throw new NotFound(`Could not find role: ${req.params.id}.`);
    return { role: roleView(req.params.id, ctx.publicUrl) };
  });

  app.put<{ Params: { p: string; u: string; r: string } }>('/v3/projects/:p/users/:u/roles/:r', { schema: resourceSchemas.grant }, async (req, reply) => {
    allowAdmin(req, 'create_grant');
    const t = await requireRoleTarget(ctx, req.params);
    await ctx.store.transact((u) => assignRole(u, t.user.id, t.project.id, t.role));
    return reply.code(204).send();
  });

  app.get<{ Params: { p: string; u: string; r: string } }>('/v3/projects/:p/users/:u/roles/:r', { schema: resourceSchemas.checkGrant }, async (req, reply) => {
    allowAdmin(req, 'check_grant');
    const t = await requireRoleTarget(ctx, req.params);
    if (!(await hasRole(db, t.user.id, t.project.id, t.role))) throw new NotFound(`Could not find role assignment with role: ${t.role}, user or group: ${t.user.id}, project, domain, or system: ${t.project.id}.`);
    return reply.code(204).send();
  });

  app.delete<{ Params: { p: string; u: string; r: string } }>('/v3/projects/:p/users/:u/roles/:r', { schema: resourceSchemas.revokeGrant }, async (req, reply) => {
    allowAdmin(req, 'revoke_grant');
    const t = await requireRoleTarget(ctx, req.params);
    await ctx.store.transact((u) => revokeGrant(u, t.user.id, t.project.id, t.role));
    return reply.code(204).send();
  });

  app.get<{ Params: { p: string; u: string } }>('/v3/projects/:p/users/:u/roles', { schema: resourceSchemas.userRolesOnProject }, async (req) => {
    // Keystone: admin (or a system or domain reader) only, not the user itself.
    allowAdmin(req, 'list_grants');
    const roles = await rolesOn(db, req.params.u, req.params.p);
    return { roles: roles.map((r) => roleView(r, ctx.publicUrl)), links: collectionLinks(ctx.publicUrl, `/projects/${req.params.p}/users/${req.params.u}/roles`) };
  });

  app.get('/v3/role_assignments', { schema: resourceSchemas.roleAssignments }, async (req) => {
    const q = req.query as Json;
    const userId = typeof q['user.id'] === 'string' ? q['user.id'] : undefined;
    // Keystone: admin (or a system or domain reader) only, even for the caller's own assignments.
    allowAdmin(req, 'list_role_assignments');
    const names = q.include_names !== undefined && q.include_names !== 'false' && q.include_names !== '0';
    const rows = await listRoleAssignments(db, {
      userId,
      projectId: typeof q['scope.project.id'] === 'string' ? q['scope.project.id'] : undefined,
      role: typeof q['role.id'] === 'string' ? q['role.id'] : undefined,
    });
    const domain = { id: 'default', name: 'Default' };
    return {
      role_assignments: rows.map((r) => ({
        role: names ? { id: r.role, name: r.role } : { id: r.role },
        user: names ? { id: r.user_id, name: r.user_name, domain } : { id: r.user_id },
        scope: { project: names ? { id: r.project_id, name: r.project_name, domain } : { id: r.project_id } },
        links: { assignment: `${ctx.publicUrl.replace(/\/+$/, '')}/identity/v3/projects/${r.project_id}/users/${r.user_id}/roles/${r.role}` },
      })),
      links: collectionLinks(ctx.publicUrl, '/role_assignments'),
    };
  });

  app.get('/v3/auth/projects', { schema: resourceSchemas.authProjects }, async (req) => {
    const projects = await projectsOfUser(db, req.auth.userId);
    return { projects: projects.map((p) => projectView(p, ctx.publicUrl)), links: collectionLinks(ctx.publicUrl, '/auth/projects') };
  });
}
