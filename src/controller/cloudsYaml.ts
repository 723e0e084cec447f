import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REGION } from './services/catalog.js';

export interface CloudCredentials {
  adminPassword: string;
  demoPassword: string;
}

function cloud(authUrl: string, user: string, password: string, project: string, cacert?: string) {
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

export function cloudsYamlText(publicUrl: string, creds: CloudCredentials, cacert?: string): string {
  const authUrl = `${publicUrl.replace(/\/+$/, '')}/identity/v3`;
  return stringify({
    clouds: {
      'vdpa-compute': cloud(authUrl, 'admin', creds.adminPassword, 'admin', cacert),
      'vdpa-compute-demo': cloud(authUrl, 'demo', creds.demoPassword, 'demo', cacert),
    },
  });
}

/**
 * Writes `<dataDir>/clouds.yaml` for the openstack client. Rewritten at every
 * start because the public URL may change; it holds passwords, hence 0600.
 */
export async function writeCloudsYaml(dataDir: string, publicUrl: string, creds: CloudCredentials, cacert?: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'clouds.yaml');
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, cloudsYamlText(publicUrl, creds, cacert), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return path;
}
