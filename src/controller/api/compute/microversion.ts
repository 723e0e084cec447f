import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../../domain/errors.js';

export interface Microversion { major: number; minor: number }

export const MIN_MICROVERSION: Microversion = { major: 2, minor: 1 };
export const MAX_MICROVERSION: Microversion = { major: 2, minor: 93 };

function fmt(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

function compare(a: Microversion, b: Microversion): number {
  return a.major - b.major || a.minor - b.minor;
}

function notAcceptable(requested: string): DomainError {
  return new DomainError('not-acceptable',
    `Version ${requested} is not supported by the API. Minimum is ${fmt(MIN_MICROVERSION)} and maximum is ${fmt(MAX_MICROVERSION)}.`);
}

function header(req: FastifyRequest, name: string): string | undefined {
  const h = req.headers[name];
  return Array.isArray(h) ? h.join(',') : h;
}

/** The compute part of `OpenStack-API-Version: compute 2.61[, other X.Y]`. */
function fromOpenStackHeader(value: string): string | undefined {
  for (const part of value.split(',')) {
    const [service, version] = part.trim().split(/\s+/);
    if (service?.toLowerCase() === 'compute' && version) return version;
  }
  return undefined;
}

function parse(text: string): Microversion {
  if (text.toLowerCase() === 'latest') return MAX_MICROVERSION;
  const m = /^(\d+)\.(\d+)$/.exec(text.trim());
  if (!m) throw notAcceptable(text);
  const v = { major: Number(m[1]), minor: Number(m[2]) };
  if (compare(v, MIN_MICROVERSION) < 0 || compare(v, MAX_MICROVERSION) > 0) throw notAcceptable(text);
  return v;
}

const parsed = new WeakMap<FastifyRequest, Microversion>();

/**
 * The compute microversion a request asks for: the standard header first,
 * then the legacy Nova one, else the minimum (2.1).
 */
export function microversion(req: FastifyRequest): Microversion {
  const cached = parsed.get(req);
  if (cached) return cached;
  const standard = header(req, 'openstack-api-version');
  const requested = (standard !== undefined ? fromOpenStackHeader(standard) : undefined)
    ?? header(req, 'x-openstack-nova-api-version');
  const v = requested === undefined || requested.trim() === '' ? MIN_MICROVERSION : parse(requested);
  parsed.set(req, v);
  return v;
}

/** True when the request's microversion is `version` ("2.61") or later. */
export function atLeast(req: FastifyRequest, version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return compare(microversion(req), { major: major!, minor: minor! }) >= 0;
}

export function microversionString(req: FastifyRequest): string {
  return fmt(microversion(req));
}
