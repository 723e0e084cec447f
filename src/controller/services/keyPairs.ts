import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../domain/errors.js';
import { fingerprintOf, sshRsaPublicKey, type KeyPairType } from '../../domain/keys/publicKeys.js';
import { countKeyPairs, deleteKeyPairRow, getKeyPair, insertKeyPair, keyPairsOf, type KeyPairRow } from '../../storage/repositories/keyPairs.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { Unit, Session } from '../../storage/unit.js';
import { COMPUTE_DEFAULTS } from '../../domain/quotas/resources.js';
import { projectLimits } from '../../storage/repositories/quotas.js';
import { inUnit, type Storage } from '../../storage/db.js';

/** Nova's key pairs: per user, name unique per user; generated (RSA, like Nova) or imported. */

export type { KeyPairRow };

const generateRsa = promisify(generateKeyPair);

export interface NewKeyPair {
  userId: string; name: string; type: KeyPairType; publicKey?: string;
  /** The project whose key_pairs limit applies (the caller's). */
  projectId: string;
  /** From 2.92 '@' and '.' are allowed in names too. */
  specialCharacters: boolean;
}

function checkName(name: string, special: boolean): void {
  const safe = special ? /^[A-Za-z0-9_\- @.]*$/ : /^[A-Za-z0-9_\- ]*$/;
  if (!safe.test(name)) throw new BadRequest('Keypair data is invalid: Keypair name contains unsafe characters');
  if (name.length < 1 || name.length > 255) {
    throw new BadRequest('Keypair data is invalid: Keypair name must be string and between 1 and 255 characters long');
  }
}

export function keyPairNotFound(name: string, userId: string): NotFound {
  return new NotFound(`Keypair ${name} not found for user ${userId}`);
}

/** Creates the key pair; when no public key is given, generates one and returns its private key (shown this once). */
export async function createKeyPair(db: Unit | Storage, k: NewKeyPair): Promise<{ row: KeyPairRow; privateKey: string | null }> {
  checkName(k.name, k.specialCharacters);
  let publicKey = k.publicKey;
  let privateKey: string | null = null;
  if (publicKey === undefined) {
    if (k.type === 'x509') {
      throw new BadRequest('Keypair data is invalid: generating x509 certificates is not supported here; import one with public_key');
    }
    const pair = await generateRsa('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    publicKey = sshRsaPublicKey(pair.publicKey.export({ format: 'jwk' }) as { n: string; e: string }, 'Generated-by-Nova');
  }
  const fingerprint = fingerprintOf(k.type, publicKey);
  // The key is made before the unit starts: generating one takes longer than any write.
  const values = { user_id: k.userId, name: k.name, type: k.type, public_key: publicKey, fingerprint, created_at: nowIso() };
  const row = await inUnit(db, async (u) => {
    // Nova counts the user's key pairs against the key_pairs limit (403 KeypairLimitExceeded).
    const limit = (await projectLimits(u, k.projectId)).key_pairs ?? COMPUTE_DEFAULTS.key_pairs!;
    if (limit >= 0 && (await countKeyPairs(u, k.userId)) >= limit) throw new Forbidden('Quota exceeded, too many key pairs.');
    return insertKeyPair(u, values);
  });
  if (!row) throw new Conflict(`Key pair '${k.name}' already exists.`);
  return { row, privateKey };
}

export async function keyPairOf(db: Session, userId: string, name: string): Promise<KeyPairRow> {
  const row = await getKeyPair(db, userId, name);
  if (!row) throw keyPairNotFound(name, userId);
  return row;
}

export async function listKeyPairs(db: Session, userId: string, page: { limit?: number; marker?: string }): Promise<KeyPairRow[]> {
  if (page.marker !== undefined && !(await getKeyPair(db, userId, page.marker))) {
    throw new BadRequest(`Marker ${page.marker} could not be found.`);
  }
  return keyPairsOf(db, userId, { ...(page.limit !== undefined ? { limit: page.limit } : {}), ...(page.marker !== undefined ? { afterName: page.marker } : {}) });
}

export async function deleteKeyPair(db: Unit, userId: string, name: string): Promise<void> {
  if (!(await deleteKeyPairRow(db, userId, name))) throw keyPairNotFound(name, userId);
}
