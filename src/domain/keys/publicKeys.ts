import { createHash, X509Certificate } from 'node:crypto';
import { BadRequest } from '../errors.js';

/**
 * Key pair material as Nova handles it: an OpenSSH public key line
 * (`ssh-rsa AAAA… comment`) or, for type x509, a PEM certificate. The
 * fingerprint is Nova's: the MD5 of the decoded key blob for ssh keys, the
 * SHA-1 of the DER certificate for x509, as colon-separated lowercase hex.
 */

export type KeyPairType = 'ssh' | 'x509';

const SSH_KEY_TYPES = new Set([
  'ssh-rsa', 'ssh-dss', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
]);

function colonHex(digest: Buffer): string {
  return digest.toString('hex').match(/../g)!.join(':');
}

function invalidKey(): BadRequest {
  return new BadRequest('Keypair data is invalid: failed to generate fingerprint');
}

/** The key blob of an OpenSSH public key line, checked: its first field names the same key type. */
function sshKeyBlob(publicKey: string): Buffer {
  const [type, data] = publicKey.trim().split(/\s+/);
  if (!type || !data || !SSH_KEY_TYPES.has(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw invalidKey();
  const blob = Buffer.from(data, 'base64');
  if (blob.length < 4) throw invalidKey();
  const nameLength = blob.readUInt32BE(0);
  if (4 + nameLength > blob.length || blob.subarray(4, 4 + nameLength).toString('latin1') !== type) throw invalidKey();
  return blob;
}

export function fingerprintOf(type: KeyPairType, publicKey: string): string {
  if (type === 'ssh') return colonHex(createHash('md5').update(sshKeyBlob(publicKey)).digest());
  try {
    return colonHex(createHash('sha1').update(new X509Certificate(publicKey).raw).digest());
  } catch {
    throw invalidKey();
  }
}

/** An SSH wire-format string or mpint field. */
function sshField(data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
}

/** A positive mpint: big-endian, with a leading zero byte when the top bit is set. */
function mpint(unsigned: Buffer): Buffer {
  let b = unsigned;
  while (b.length > 1 && b[0] === 0) b = b.subarray(1);
  return sshField(b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

/** The OpenSSH public key line of an RSA key given as its JWK `n` and `e` (base64url). */
export function sshRsaPublicKey(jwk: { n: string; e: string }, comment: string): string {
  const blob = Buffer.concat([
    sshField(Buffer.from('ssh-rsa')), mpint(Buffer.from(jwk.e, 'base64url')), mpint(Buffer.from(jwk.n, 'base64url')),
  ]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}
