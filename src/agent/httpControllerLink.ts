/**
 * The ControllerLink of a remote compute agent: the controller's /agent/v1 API
 * over HTTP, authenticated with the agents' service credential.
 *
 * While the controller is unreachable (refused, reset, timed out, 502/503/504)
 * a call is retried with exponential backoff until it gets through or the link
 * is closed; every call of the protocol is idempotent, so a call whose answer
 * was lost may safely be sent again. An expired or unknown token (401) is
 * replaced by a fresh one and the call repeated once.
 *
 * Given several controller URLs (replicas sharing one database) the link uses
 * one at a time and moves to the next when it is unreachable, round robin;
 * the backoff starts only once every URL has failed in a row. A token from
 * one replica is good on the others, so a failover needs no new token.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { ImageWithoutData, type DownloadedImage, type ImageSource } from './imageCache.js';
import type {
  ConsoleAnswer, ConsoleRequest, ControllerLink, GuestAssignment, GuestReport, HostRegistration, InventoryReport, PowerStateReport,
} from '../protocol/agentProtocol.js';

export interface ServiceCredential {
  username: string;
  password: string;
  projectName: string;
  /** Domain of the user and of the project (default "Default"). */
  domain?: string;
}

export interface HttpControllerLinkOptions {
  /** The controller's base URL, e.g. http://controller:8774, or several replicas' in the order to try them. */
  controllerUrl: string | readonly string[];
  credential: ServiceCredential;
  log?: Logger;
  /** First retry delay (default 100 ms), doubled after every failure up to maxBackoffMs (default 5 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A request that gets no answer in this long counts as a failure and is retried (default 30 s, plus the long-poll time). */
  requestTimeoutMs?: number;
  /** PEM certificates the controller's HTTPS certificate must chain to (`--ca-file`), instead of the system's. */
  ca?: string;
}

/** The controller answered, and said no: retrying the same call will not help. */
export class ControllerRejected extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ControllerRejected';
  }
}

/** The link was closed while a call was waiting to be retried. */
export class LinkClosed extends Error {
  constructor() {
    super('the controller link is closed');
    this.name = 'LinkClosed';
  }
}

/** Statuses of a controller that is restarting or behind a proxy that cannot reach it. */
const RETRY_STATUSES = new Set([502, 503, 504]);
/** How long an image download may take beyond the usual request timeout. */
const DOWNLOAD_TIME_MS = 30 * 60_000;
/** A token this close to its expiry (at most a tenth of its life) is renewed before use, not after a 401. */
const RENEW_BEFORE_MS = 60_000;

interface Token {
  value: string;
  expiresAtMs: number;
  renewAtMs: number;
}

/** A call that did not reach a working controller; `at` is the index of the URL it went to. */
class Unreachable extends Error {
  constructor(message: string, readonly at: number) {
    super(message);
  }
}

export class HttpControllerLink implements ControllerLink, ImageSource {
  private readonly bases: readonly string[];
  /** The URL in use; it changes only when that one turns out unreachable. */
  private current = 0;
  private token: Token | null = null;
  private authenticating: Promise<Token> | null = null;
  private readonly closing = new AbortController();
  /** Whether the last attempt failed, so that an outage is logged once and its end once. */
  private unreachableSince: number | null = null;
  /** How many tokens this link has obtained (for operators' logs and tests). */
  authentications = 0;

  /** With a CA file: connections that trust exactly it. */
  private readonly dispatcher: Agent | undefined;

  constructor(private readonly o: HttpControllerLinkOptions) {
    this.dispatcher = o.ca !== undefined ? new Agent({ connect: { ca: o.ca } }) : undefined;
    const urls = typeof o.controllerUrl === 'string' ? [o.controllerUrl] : o.controllerUrl;
    if (urls.length === 0) throw new Error('HttpControllerLink needs at least one controller URL');
    this.bases = urls.map((u) => u.replace(/\/+$/, ''));
  }

  /** The controller URL calls go to now. */
  get controllerUrl(): string {
    return this.bases[this.current]!;
  }

  // ---- ControllerLink ------------------------------------------------------

  async registerHost(reg: HostRegistration): Promise<void> {
    await this.call('PUT', `${this.hostPath(reg.host)}`, reg);
  }

  async reportInventory(report: InventoryReport): Promise<void> {
    await this.call('PUT', `${this.hostPath(report.host)}/inventory`, report);
  }

  async heartbeat(host: string): Promise<void> {
    await this.call('POST', `${this.hostPath(host)}/heartbeat`);
  }

  async pendingGuests(host: string): Promise<GuestAssignment[]> {
    return ((await this.call('GET', `${this.hostPath(host)}/guests?pending=true`)) as { guests: GuestAssignment[] }).guests;
  }

  async allGuests(host: string): Promise<GuestAssignment[]> {
    return ((await this.call('GET', `${this.hostPath(host)}/guests`)) as { guests: GuestAssignment[] }).guests;
  }

  async reportGuest(report: GuestReport): Promise<void> {
    await this.call('PUT', `${this.hostPath(report.host)}/guests/${encodeURIComponent(report.instanceUuid)}/report`, report);
  }

  async reportPowerState(report: PowerStateReport): Promise<void> {
    await this.call('PUT', `${this.hostPath(report.host)}/guests/${encodeURIComponent(report.instanceUuid)}/power-state`, report);
  }

  async pendingConsoleRequests(host: string): Promise<ConsoleRequest[]> {
    return ((await this.call('GET', `${this.hostPath(host)}/console-requests`)) as { requests: ConsoleRequest[] }).requests;
  }

  async answerConsoleRequest(answer: ConsoleAnswer): Promise<void> {
    await this.call('PUT', `${this.hostPath(answer.host)}/console-requests/${encodeURIComponent(answer.id)}`, answer);
  }

  async waitForWork(host: string, timeoutMs: number): Promise<void> {
    const ms = Math.max(0, Math.floor(timeoutMs));
    await this.call('GET', `${this.hostPath(host)}/work?timeout_ms=${ms}`, undefined, ms);
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Gets a token now (retrying while the controller is unreachable); rejects on a wrong credential. */
  /**
   * An image's data from the controller's image API, streamed into `file`
   * and checked against the MD5 the controller sends (Content-MD5), as
   * glanceclient checks it. An image without data answers 204: ImageWithoutData.
   */
  async downloadImage(imageId: string, file: string): Promise<DownloadedImage> {
    const path = `/image/v2/images/${encodeURIComponent(imageId)}`;
    const image = (await this.call('GET', path)) as { name?: string | null; disk_format?: string | null; checksum?: string | null };
    return this.retrying(async () => {
      let token = await this.currentToken();
      let res = await this.send('GET', `${path}/file`, token.value, undefined, DOWNLOAD_TIME_MS);
      if (res.status === 401) {
        await res.body?.cancel();
        this.forget(token);
        token = await this.currentToken();
        res = await this.send('GET', `${path}/file`, token.value, undefined, DOWNLOAD_TIME_MS);
      }
      if (res.status === 204) throw new ImageWithoutData(imageId, image.name ?? '');
      if (res.status !== 200 || !res.body) {
        await this.answer('GET', `${path}/file`, res);
        throw new ControllerRejected(res.status, `GET ${path}/file: HTTP ${res.status} instead of the image's data`);
      }
      const md5 = createHash('md5');
      let size = 0;
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) { size += chunk.length; md5.update(chunk); done(null, chunk); },
      });
      try {
        await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), count, createWriteStream(file));
      } catch (e) {
        // A connection lost mid-transfer is an outage like any other: try again (from the start).
        throw new Unreachable(`GET ${path}/file: ${(e as Error).message}`, this.current);
      }
      const expected = res.headers.get('content-md5') ?? image.checksum ?? null;
      const got = md5.digest('hex');
      if (expected && expected !== got) throw new Error(`image ${imageId}: downloaded data has MD5 ${got}, the controller says ${expected}`);
      return { diskFormat: image.disk_format ?? 'raw', checksum: got, size };
    });
  }

  /**
   * The snapshot's data, streamed from `file` to the controller
   * (PUT /agent/v1/hosts/{host}/guests/{uuid}/snapshots/{image}); sent again
   * from the start when the controller was unreachable.
   */
  async uploadSnapshot(host: string, instanceUuid: string, imageId: string, file: string): Promise<void> {
    const path = `${this.hostPath(host)}/guests/${encodeURIComponent(instanceUuid)}/snapshots/${encodeURIComponent(imageId)}`;
    await this.uploadFile(path, file);
  }

  /** Streams `file` to the controller with PUT, again with a new token after a 401, again from the start after an outage. */
  private async uploadFile(path: string, file: string): Promise<void> {
    await this.retrying(async () => {
      let token = await this.currentToken();
      let res = await this.send('PUT', path, token.value, undefined, DOWNLOAD_TIME_MS, file);
      if (res.status === 401) {
        await res.text().catch(() => '');
        this.forget(token);
        token = await this.currentToken();
        res = await this.send('PUT', path, token.value, undefined, DOWNLOAD_TIME_MS, file);
      }
      return this.answer('PUT', path, res);
    });
  }

  /**
   * A cold move's disk, streamed from `file` to the controller
   * (PUT /agent/v1/hosts/{host}/guests/{uuid}/disk-transfers/{migration});
   * sent again from the start when the controller was unreachable.
   */
  async uploadDiskTransfer(host: string, instanceUuid: string, migrationUuid: string, file: string): Promise<void> {
    const path = this.diskTransferPath(host, instanceUuid, migrationUuid);
    await this.uploadFile(path, file);
  }

  /** A cold move's disk from the controller, streamed into `file` and checked against its Content-Length. */
  async downloadDiskTransfer(host: string, instanceUuid: string, migrationUuid: string, file: string): Promise<void> {
    const path = this.diskTransferPath(host, instanceUuid, migrationUuid);
    await this.retrying(async () => {
      let token = await this.currentToken();
      let res = await this.send('GET', path, token.value, undefined, DOWNLOAD_TIME_MS);
      if (res.status === 401) {
        await res.body?.cancel();
        this.forget(token);
        token = await this.currentToken();
        res = await this.send('GET', path, token.value, undefined, DOWNLOAD_TIME_MS);
      }
      if (res.status !== 200 || !res.body) {
        await this.answer('GET', path, res);
        throw new ControllerRejected(res.status, `GET ${path}: HTTP ${res.status} instead of the disk's data`);
      }
      let size = 0;
      const count = new Transform({ transform(chunk: Buffer, _enc, done) { size += chunk.length; done(null, chunk); } });
      try {
        await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), count, createWriteStream(file));
      } catch (e) {
        throw new Unreachable(`GET ${path}: ${(e as Error).message}`, this.current);
      }
      const expected = res.headers.get('content-length');
      if (expected !== null && Number(expected) !== size) throw new Unreachable(`GET ${path}: got ${size} of ${expected} bytes`, this.current);
    });
  }

  private diskTransferPath(host: string, instanceUuid: string, migrationUuid: string): string {
    return `${this.hostPath(host)}/guests/${encodeURIComponent(instanceUuid)}/disk-transfers/${encodeURIComponent(migrationUuid)}`;
  }

  async connect(): Promise<void> {
    await this.retrying(() => this.currentToken());
  }

  /** Stops every retry in progress; later calls fail with LinkClosed. */
  close(): void {
    this.closing.abort();
  }

  // ---- internals -----------------------------------------------------------

  private hostPath(host: string): string {
    return `/agent/v1/hosts/${encodeURIComponent(host)}`;
  }

  private async call(method: string, path: string, body?: unknown, longPollMs = 0): Promise<unknown> {
    return this.retrying(async () => {
      let token = await this.currentToken();
      let res = await this.send(method, path, token.value, body, longPollMs);
      if (res.status === 401) {
        // Expired, revoked, or the controller lost its token table: one fresh token, one more try.
        this.forget(token);
        token = await this.currentToken();
        res = await this.send(method, path, token.value, body, longPollMs);
      }
      return this.answer(method, path, res);
    });
  }

  private async answer(method: string, path: string, res: Response): Promise<unknown> {
    const text = await res.text().catch(() => '');
    if (res.status >= 400) throw new ControllerRejected(res.status, `${method} ${path}: HTTP ${res.status}: ${errorMessage(text)}`);
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new ControllerRejected(res.status, `${method} ${path}: the controller's answer is not JSON`);
    }
  }

  /** One request; `file` streams that file as the body (application/octet-stream) instead of JSON. */
  private async send(method: string, path: string, token: string | null, body: unknown, longPollMs: number, file?: string): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers['x-auth-token'] = token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (file !== undefined) headers['content-type'] = 'application/octet-stream';
    const timeout = AbortSignal.timeout((this.o.requestTimeoutMs ?? 30_000) + longPollMs);
    const at = this.current;
    let res: Response;
    try {
      res = await fetch(`${this.bases[at]}${path}`, {
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
        method,
        headers,
        ...(file !== undefined
          ? { body: Readable.toWeb(createReadStream(file)) as unknown as BodyInit, duplex: 'half' }
          : { body: body === undefined ? undefined : JSON.stringify(body) }),
        signal: AbortSignal.any([timeout, this.closing.signal]),
      });
    } catch (e) {
      if (this.closing.signal.aborted) throw new LinkClosed();
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Unreachable(`${method} ${path}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, at);
    }
    if (RETRY_STATUSES.has(res.status)) {
      await res.text().catch(() => '');
      throw new Unreachable(`${method} ${path}: HTTP ${res.status}`, at);
    }
    return res;
  }

  private async currentToken(): Promise<Token> {
    if (this.token && this.token.renewAtMs > Date.now()) return this.token;
    if (!this.authenticating) {
      this.authenticating = this.authenticate().finally(() => { this.authenticating = null; });
    }
    return this.authenticating;
  }

  private forget(token: Token): void {
    if (this.token === token) this.token = null;
  }

  private async authenticate(): Promise<Token> {
    const c = this.o.credential;
    const domain = { name: c.domain ?? 'Default' };
    const res = await this.send('POST', '/identity/v3/auth/tokens?nocatalog', null, {
      auth: {
        identity: { methods: ['password'], password: { user: { name: c.username, domain, password: c.password } } },
        scope: { project: { name: c.projectName, domain } },
      },
    }, 0);
    const text = await res.text().catch(() => '');
    const value = res.headers.get('x-subject-token');
    if (res.status !== 201 || !value) {
      throw new ControllerRejected(res.status,
        `authentication as ${c.username} (project ${c.projectName}) failed: HTTP ${res.status}: ${errorMessage(text)}`);
    }
    const issuedAtMs = Date.now();
    let expiresAtMs = issuedAtMs + 3600_000;
    try {
      const parsed = Date.parse((JSON.parse(text) as { token?: { expires_at?: string } }).token?.expires_at ?? '');
      if (Number.isFinite(parsed)) expiresAtMs = parsed;
    } catch { /* no body: assume an hour, a 401 will tell us sooner */ }
    const margin = Math.min(RENEW_BEFORE_MS, (expiresAtMs - issuedAtMs) / 10);
    this.token = { value, expiresAtMs, renewAtMs: expiresAtMs - margin };
    this.authentications += 1;
    this.o.log?.debug({ controller: this.controllerUrl, expiresAt: new Date(expiresAtMs).toISOString() }, 'authenticated');
    return this.token;
  }

  /**
   * Repeats `attempt` while the controller is unreachable, on the next URL
   * at once, and after a backoff once every URL has failed in a row; other
   * errors go to the caller at once.
   */
  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    let backoff = this.o.initialBackoffMs ?? 100;
    const max = this.o.maxBackoffMs ?? 5_000;
    let failures = 0;
    for (;;) {
      if (this.closing.signal.aborted) throw new LinkClosed();
      try {
        const result = await attempt();
        if (this.unreachableSince !== null) {
          this.o.log?.info({ controller: this.controllerUrl, downMs: Date.now() - this.unreachableSince }, 'controller reachable again');
          this.unreachableSince = null;
        }
        return result;
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e;
        failures += 1;
        this.failOver(e);
        if (failures % this.bases.length !== 0) continue;
        if (this.unreachableSince === null) {
          this.unreachableSince = Date.now();
          this.o.log?.warn({ controller: this.bases.join(','), err: e.message }, 'controller unreachable; retrying with backoff');
        } else {
          this.o.log?.debug({ controller: this.bases.join(','), err: e.message, backoffMs: backoff }, 'controller still unreachable');
        }
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, max);
      }
    }
  }

  /**
   * Moves to the next URL, unless a concurrent call has moved on already:
   * two calls failing on the same URL must not skip its successor.
   */
  private failOver(e: Unreachable): void {
    if (this.bases.length === 1 || e.at !== this.current) return;
    const next = (e.at + 1) % this.bases.length;
    this.current = next;
    // A warning while other URLs may still answer; in a full outage the one warning of retrying() says it all.
    const level = this.unreachableSince === null ? 'warn' : 'debug';
    this.o.log?.[level]({ controller: this.bases[e.at], next: this.bases[next], err: e.message }, 'controller unreachable; failing over to the next');
  }

  private pause(ms: number): Promise<void> {
    const signal = this.closing.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      // A little jitter keeps a fleet of agents from returning in lock step after an outage.
      const timer = setTimeout(done, ms * (0.8 + Math.random() * 0.4));
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The message inside any of the OpenStack error formats, else the text itself. */
function errorMessage(text: string): string {
  try {
    const doc = JSON.parse(text) as Record<string, unknown>;
    for (const v of Object.values(doc)) {
      if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message;
    }
    if (typeof doc.message === 'string') return doc.message;
  } catch { /* not JSON */ }
  return text.slice(0, 500) || '(no body)';
}
