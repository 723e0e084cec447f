/**
 * Per-host agent credentials: a user of the `service` project with the
 * `service` role whose `agent_host` names the one host it may act for on the
 * agent API (api/agent/routes.ts refuses any other host with 403). The shared
 * `compute-agent` credential (no agent_host) may act for every host: a lab
 * convenience for the all-in-one.
 */
import { BadRequest, Conflict } from '../../domain/errors.js';
import { deleteTokensOf } from '../../storage/repositories/tokens.js';
import type { Unit } from '../../storage/unit.js';
import { assignRole, createUser, findProject, findUser, setPassword } from './directory.js';
import { generatePassword } from './passwords.js';

export interface AgentCredential { username: string; password: string; project_name: string }

const SERVICE_PROJECT = 'service';

/** The user name of HOST's credential. */
export function agentUserName(host: string): string {
  return `compute-agent-${host}`;
}

/** Creates HOST's credential, or gives an existing one a new password (its tokens end). */
export async function createAgentCredential(db: Unit, host: string): Promise<AgentCredential> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(host)) throw new BadRequest(`Invalid host name ${JSON.stringify(host)}.`);
  const project = await findProject(db, { name: SERVICE_PROJECT });
  if (!project) throw new BadRequest(`No project '${SERVICE_PROJECT}' in this database: start the controller (vdpa-compute serve) once first.`);
  const username = agentUserName(host);
  const password = generatePassword();
  const existing = await findUser(db, { name: username });
  if (existing && existing.agent_host !== host) throw new Conflict(`User ${username} exists and is not the agent credential of ${host}.`);
  if (existing) {
    await setPassword(db, existing.id, password);
    await deleteTokensOf(db, { userId: existing.id });
  }
  const user = existing ?? await createUser(db, { name: username, password, defaultProjectId: project.id, agentHost: host });
  await assignRole(db, user.id, project.id, 'service');
  return { username, password, project_name: SERVICE_PROJECT };
}
