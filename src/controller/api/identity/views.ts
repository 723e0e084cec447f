import type { ProjectTable, UserTable } from '../../../storage/schema.js';
import { buildCatalog } from '../../services/catalog.js';
import type { TokenRecord } from '../../services/tokens.js';
import { DEFAULT_DOMAIN } from '../../services/directory.js';

/** Keystone writes timestamps with microseconds: 2015-03-18T12:44:44.000000Z. */
export function keystoneTime(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}

function v3(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/identity/v3`;
}

export function versionDoc(publicUrl: string) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${v3(publicUrl)}/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

export function projectView(p: ProjectTable, publicUrl: string) {
  return {
    id: p.id,
    name: p.name,
    domain_id: p.domain_id,
    description: p.description,
    enabled: p.enabled === 1,
    parent_id: p.domain_id,
    is_domain: false,
    tags: [] as string[],
    options: {},
    links: { self: `${v3(publicUrl)}/projects/${p.id}` },
  };
}

export function userView(u: UserTable, publicUrl: string) {
  return {
    id: u.id,
    name: u.name,
    domain_id: u.domain_id,
    enabled: u.enabled === 1,
    ...(u.default_project_id ? { default_project_id: u.default_project_id } : {}),
    password_expires_at: null,
    options: {},
    links: { self: `${v3(publicUrl)}/users/${u.id}` },
  };
}

export function roleView(name: string, publicUrl: string) {
  return { id: name, name, domain_id: null, description: null, options: {}, links: { self: `${v3(publicUrl)}/roles/${name}` } };
}

export function collectionLinks(publicUrl: string, path: string) {
  return { self: `${v3(publicUrl)}${path}`, previous: null, next: null };
}

export function tokenView(rec: TokenRecord, publicUrl: string, methods: string[], withCatalog: boolean) {
  const { auth } = rec;
  return {
    token: {
      methods,
      user: { id: auth.userId, name: auth.userName, domain: { ...DEFAULT_DOMAIN }, password_expires_at: null },
      audit_ids: [] as string[],
      expires_at: keystoneTime(rec.expiresAt),
      issued_at: keystoneTime(rec.issuedAt),
      project: { id: auth.projectId, name: auth.projectName, domain: { ...DEFAULT_DOMAIN } },
      is_domain: false,
      roles: auth.roles.map((r) => ({ id: r, name: r })),
      ...(withCatalog ? { catalog: buildCatalog(publicUrl) } : {}),
    },
  };
}
