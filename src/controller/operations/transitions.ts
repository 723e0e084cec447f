import type { GuestRow } from '../../storage/repositories/guests.js';
import type { ServerSnapshotRows } from '../../storage/repositories/operations.js';
import type { ControllerContext } from '../context.js';

/**
 * The shape every operation module has: a table of (task state, observation)
 * → step. The engine (engine.ts) reads a snapshot of the server from the
 * database, runs the first row whose observation holds, and reads again;
 * when no row holds, the server waits for a host (or is done). Steps are
 * idempotent: each writes through conditional updates, so running one twice,
 * or on two controllers, changes nothing the second time.
 */
export interface ServerSnapshot extends ServerSnapshotRows {
  /** Milliseconds since the epoch when the snapshot was read. */
  now: number;
}

/** 'wait': the step handed work to a host; nothing more to do until it reports. */
export type Step = (ctx: ControllerContext, s: ServerSnapshot) => Promise<void | 'wait'>;

export interface Transition {
  /** The task state the row applies to. */
  state: string;
  /** What the snapshot shows, in words (logged with every step taken). */
  on: string;
  when: (s: ServerSnapshot) => boolean;
  step: Step;
}

export interface Operation {
  /** The instance action it records (os-instance-actions). */
  action: string;
  transitions: readonly Transition[];
  /**
   * The step the server waits on took longer than operation_timeout: roll
   * back or end in ERROR with a fault naming the step and the host, and
   * settle the claims. `why` is that fault's text.
   */
  onDeadline: (ctx: ControllerContext, s: ServerSnapshot, why: string) => Promise<void>;
}

/** The server's guest on `host`, if it has one. */
export function guestOn(s: ServerSnapshot, host: string | null | undefined): GuestRow | undefined {
  return host ? s.guests.find((g) => g.host === host) : undefined;
}

/** The agent has answered the newest instruction for this guest. */
export function answered(g: GuestRow | undefined): boolean {
  return g !== undefined && g.observed_generation === g.generation;
}

/** The newest instruction was carried out: the guest is in `state`. */
export function reached(g: GuestRow | undefined, state: string): boolean {
  return g !== undefined && answered(g) && g.error === null && g.observed_state === state;
}

/** The newest instruction failed on the host. */
export function failedOn(g: GuestRow | undefined): boolean {
  return g !== undefined && answered(g) && g.error !== null;
}

/** The server's guest on its own host. */
export function ownGuest(s: ServerSnapshot): GuestRow | undefined {
  return guestOn(s, s.instance.host);
}

/** The host a waiting step waits on, for a deadline's fault text. */
export function waitedHost(s: ServerSnapshot): string {
  const pending = s.guests.find((g) => g.observed_generation !== g.generation);
  return pending?.host ?? s.instance.host ?? 'no host';
}
