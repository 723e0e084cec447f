import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Storage } from '../storage/db.js';

export interface AuthContext {
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  roles: string[];
  isAdmin: boolean;
  /** A compute agent's service credential (role `service`). */
  isService: boolean;
  /** The one host a per-host agent credential may act for on the agent API; null: not limited to one. */
  agentHost: string | null;
}

export interface TokenService {
  /** Returns who the token belongs to, or null when it is unknown or expired. */
  verify(token: string): Promise<AuthContext | null>;
}

/** Wakes the agents of hosts that have new guest work (in-process signal; agents also poll). */
export interface HostSignals {
  notify(host: string): void;
  /** Resolves on a notify, after timeoutMs, or when `signal` aborts (the waiter went away: its long poll's connection closed). */
  wait(host: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/** Everything a request handler or controller service may use; no state of its own beyond caches. */
export interface ControllerContext {
  store: Storage;
  config: Config;
  log: Logger;
  tokens: TokenService;
  signals: HostSignals;
  /** The externally visible base URL (e.g. http://127.0.0.1:8774), for catalogs and links. */
  publicUrl: string;
  /** This controller process in lease columns (host name and listen address); random when unset. */
  processId?: string;
}
