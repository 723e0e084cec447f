/**
 * Route schemas of the identity API, after Keystone's own (keystone/identity/schema.py,
 * resource/schema.py, auth/schema.py): user names up to 255 characters,
 * project names up to 64, ids up to 64, passwords up to Keystone's default
 * max_password_length (4096), booleans as JSON booleans. Like Keystone, user
 * and project bodies may carry extra attributes (they are ignored here).
 * Messages are worded by `keystoneWording`.
 */
import { idParams, jsonschemaReason, shortRepr, string, type SchemaFailure } from '../schemaValidation.js';

const TAG = ['identity'];
const route = (summary: string, parts: Record<string, unknown>) => ({ tags: TAG, summary, ...parts });

/** parameter_types.name: at least one non-space character. */
const USER_NAME = { type: 'string', minLength: 1, maxLength: 255, pattern: '\\S' } as const;
const PROJECT_NAME = { type: 'string', minLength: 1, maxLength: 64, pattern: '\\S' } as const;
const ID = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' } as const;
const NULLABLE_ID = { type: ['string', 'null'], minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' } as const;
const PASSWORD = { type: ['string', 'null'], maxLength: 4096 } as const;
const DESCRIPTION = { type: ['string', 'null'], maxLength: 65535 } as const;
const BOOLEAN = { type: 'boolean' } as const;
const TAGS = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^,/]*$' }, maxItems: 80 } as const;

/** `{"<entity>": {...}}`, the entity's attributes open as Keystone leaves them. */
function wrapped(entity: string, properties: Record<string, unknown>, opts: { required?: string[]; minProperties?: number } = {}) {
  return {
    type: 'object',
    required: [entity],
    properties: { [entity]: { type: 'object', properties, ...opts } },
  } as const;
}

const USER = {
  name: USER_NAME, password: PASSWORD, enabled: BOOLEAN, default_project_id: NULLABLE_ID, domain_id: ID,
  description: DESCRIPTION, email: { type: ['string', 'null'], maxLength: 255 },
} as const;
const PROJECT = {
  name: PROJECT_NAME, description: DESCRIPTION, enabled: BOOLEAN, domain_id: NULLABLE_ID, parent_id: NULLABLE_ID,
  is_domain: BOOLEAN, tags: TAGS,
} as const;

/** Any other query parameter is ignored, as Keystone ignores filters it does not know; each is one bounded string. */
const query = (names: readonly string[] = []) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, string(255)])),
  additionalProperties: string(255),
}) as const;

const PARAMS_ID = idParams('id');
const GRANT = idParams('p', 'u', 'r');
const PROJECT_USER = idParams('p', 'u');

// ---------- tokens (auth/schema.py token_issue) ----------

const DOMAIN_REF = { type: 'object', properties: { id: ID, name: string(255) } } as const;
const TOKEN_ISSUE = {
  type: 'object',
  required: ['auth'],
  properties: {
    auth: {
      type: 'object',
      required: ['identity'],
      properties: {
        identity: {
          type: 'object',
          required: ['methods'],
          properties: {
            methods: { type: 'array', items: string(64), maxItems: 10 },
            password: {
              type: 'object',
              properties: {
                user: {
                  type: 'object',
                  properties: { id: ID, name: USER_NAME, password: { type: 'string', maxLength: 4096 }, domain: DOMAIN_REF },
                },
              },
            },
            token: { type: 'object', required: ['id'], properties: { id: string(8192) } },
          },
        },
        // "unscoped", or a project scope (the only scope this deployment issues).
        scope: {
          type: ['object', 'string'],
          pattern: '^unscoped$',
          properties: {
            project: { type: 'object', properties: { id: ID, name: PROJECT_NAME, domain: DOMAIN_REF } },
            domain: DOMAIN_REF,
            system: { type: 'object' },
          },
        },
      },
    },
  },
} as const;

const NOCATALOG = { nocatalog: string(255), allow_expired: string(255) } as const;

export const tokenSchemas = {
  issue: route('Issue a token (password or token method)', { body: TOKEN_ISSUE, querystring: query(Object.keys(NOCATALOG)) }),
  validate: route('Validate the token in X-Subject-Token', { querystring: query(Object.keys(NOCATALOG)) }),
  revoke: route('Revoke the token in X-Subject-Token', { querystring: query() }),
};

export const discoverySchemas = {
  versions: route('List identity versions', { querystring: query() }),
  v3: route('Show the v3 version document', { querystring: query() }),
};

export const resourceSchemas = {
  listProjects: route('List projects', { querystring: query(['name', 'domain_id', 'enabled', 'parent_id', 'is_domain']) }),
  showProject: route('Show a project', { params: PARAMS_ID, querystring: query() }),
  createProject: route('Create a project', { body: wrapped('project', PROJECT, { required: ['name'] }), querystring: query() }),
  updateProject: route('Update a project', { params: PARAMS_ID, body: wrapped('project', PROJECT, { minProperties: 1 }), querystring: query() }),
  listUsers: route('List users', { querystring: query(['name', 'domain_id', 'enabled']) }),
  showUser: route('Show a user', { params: PARAMS_ID, querystring: query() }),
  createUser: route('Create a user', { body: wrapped('user', USER, { required: ['name'] }), querystring: query() }),
  updateUser: route('Update a user', { params: PARAMS_ID, body: wrapped('user', USER, { minProperties: 1 }), querystring: query() }),
  deleteUser: route('Delete a user', { params: PARAMS_ID, querystring: query() }),
  userProjects: route("List a user's projects", { params: PARAMS_ID, querystring: query() }),
  listRoles: route('List roles', { querystring: query(['name']) }),
  showRole: route('Show a role', { params: PARAMS_ID, querystring: query() }),
  grant: route('Assign a role to a user on a project', { params: GRANT, querystring: query() }),
  checkGrant: route('Check a role assignment', { params: GRANT, querystring: query() }),
  revokeGrant: route('Remove a role assignment', { params: GRANT, querystring: query() }),
  userRolesOnProject: route("List a user's roles on a project", { params: PROJECT_USER, querystring: query() }),
  roleAssignments: route('List role assignments', {
    querystring: query(['user.id', 'scope.project.id', 'role.id', 'include_names', 'effective', 'include_subtree']),
  }),
  authProjects: route('List the projects the token may be scoped to', { querystring: query() }),
};

// ---------- wording ----------

/** Secrets are never quoted back (nor, so, written anywhere an error message goes): nothing under a password or token method is. */
function quoted(f: SchemaFailure): string {
  return f.path.some((p) => p === 'password' || p === 'token') ? "'***'" : shortRepr(f.value);
}

/**
 * Keystone's words for a request that fails its schema: "Expecting to find
 * user in request body." for a missing entity, else "Invalid input for
 * field 'name': 1 is not of type 'string'".
 */
export function keystoneWording(f: SchemaFailure): string {
  if (f.part === 'body') {
    if (f.path.length === 0) {
      const entity = (f.schema.required as string[] | undefined)?.[0] ?? 'an object';
      return `Expecting to find ${entity} in request body.`;
    }
    if (f.path.length === 1 && (f.keyword === 'type' || f.keyword === 'required')) return `Expecting to find ${f.path[0]!} in request body.`;
    const field = f.path.length === 1 ? f.path[0]! : f.path.slice(1).join('/');
    return `Invalid input for field '${field}': ${jsonschemaReason(f, quoted(f))}`;
  }
  return `Invalid input for field '${f.path.join('/') || f.part}': ${jsonschemaReason(f, quoted(f))}`;
}
