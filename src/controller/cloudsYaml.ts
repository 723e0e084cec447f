import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REGION } from './services/catalog.js';

export interface CloudCredentials {
  adminPassword: string;
  demoPassword: string;
}

interface Cloud {
  auth: {
    auth_url: string; username: string; password: string; project_name: string;
    user_domain_name: string; project_domain_name: string;
  };
  identity_api_version: number;
  region_name: string;
  /** The controller's certificate when it serves HTTPS (serve --tls-cert). */
  cacert?: string;
}

function cloud(authUrl: string, user: string, password: string, project: string, cacert?: string): Cloud {
  return {
    ...(cacert ? { cacert } : {}),
    auth: {
      auth_url: authUrl,
      username: user,
      password,
      project_name: project,
      user_domain_name: 'Default',
      project_domain_name: 'Default',
    },
    identity_api_version: 3,
    region_name: REGION,
  };
}

/** The two clouds the server writes: admin, and the demo member. */
function cloudsOf(publicUrl: string, creds: CloudCredentials, cacert?: string): Record<'vdpa-compute' | 'vdpa-compute-demo', Cloud> {
  const authUrl = `${publicUrl.replace(/\/+$/, '')}/identity/v3`;
  return {
    'vdpa-compute': cloud(authUrl, 'admin', creds.adminPassword, 'admin', cacert),
    'vdpa-compute-demo': cloud(authUrl, 'demo', creds.demoPassword, 'demo', cacert),
  };
}

export function cloudsYamlText(publicUrl: string, creds: CloudCredentials, cacert?: string): string {
  return stringify({ clouds: cloudsOf(publicUrl, creds, cacert) });
}

/** A value as one shell word: single quotes, a quote inside written as '\''. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_.:/@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * One cloud as `OS_*` variables, for clients that read no clouds.yaml
 * (novaclient's `nova`). OS_CLOUD is unset so that an `openstack` run in the
 * same shell uses these variables, not another cloud of clouds.yaml.
 */
export function openrcText(name: string, c: Cloud): string {
  const vars: Array<[string, string]> = [
    ['OS_AUTH_URL', c.auth.auth_url],
    ['OS_USERNAME', c.auth.username],
    ['OS_PASSWORD', c.auth.password],
    ['OS_PROJECT_NAME', c.auth.project_name],
    ['OS_USER_DOMAIN_NAME', c.auth.user_domain_name],
    ['OS_PROJECT_DOMAIN_NAME', c.auth.project_domain_name],
    ['OS_IDENTITY_API_VERSION', String(c.identity_api_version)],
    ['OS_REGION_NAME', c.region_name],
    ...(c.cacert ? [['OS_CACERT', c.cacert] as [string, string]] : []),
  ];
  return [
    `# vdpa-compute: cloud ${name} of clouds.yaml as OS_* variables (for nova). Use: . ${name === 'vdpa-compute' ? 'openrc' : 'openrc-demo'}`,
    'unset OS_CLOUD OS_PROJECT_ID OS_TENANT_ID OS_TENANT_NAME OS_TOKEN OS_USER_ID',
    ...vars.map(([k, v]) => `export ${k}=${shellWord(v)}`),
    '',
  ].join('\n');
}

/** Writes a file holding passwords: mode 0600, replaced atomically. */
async function writeSecret(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/**
 * Writes `<dataDir>/clouds.yaml` for the openstack client, and beside it
 * `openrc` (admin) and `openrc-demo` (demo) with the same credentials as
 * `OS_*` variables for the nova client. Rewritten at every start because the
 * public URL may change; they hold passwords, hence 0600.
 */
export async function writeCloudsYaml(dataDir: string, publicUrl: string, creds: CloudCredentials, cacert?: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'clouds.yaml');
  const clouds = cloudsOf(publicUrl, creds, cacert);
  await writeSecret(path, stringify({ clouds }));
  await writeSecret(join(dataDir, 'openrc'), openrcText('vdpa-compute', clouds['vdpa-compute']));
  await writeSecret(join(dataDir, 'openrc-demo'), openrcText('vdpa-compute-demo', clouds['vdpa-compute-demo']));
  return path;
}
