/** One HTTP exchange with a deadline; the body is sent exactly as given (raw bytes or text). */
export interface RawResponse {
  status: number | 'timeout' | 'error';
  text: string;
  headers: Headers | null;
  error?: string;
}

export async function send(url: string, method: string, headers: Record<string, string>, body: string | Buffer | undefined, timeoutMs: number): Promise<RawResponse> {
  const abort = AbortSignal.timeout(timeoutMs);
  try {
    const payload = Buffer.isBuffer(body) ? new Uint8Array(body) : body;
    const res = await fetch(url, { method, headers, body: payload, signal: abort, redirect: 'manual' });
    return { status: res.status, text: await res.text(), headers: res.headers };
  } catch (e) {
    const err = e as Error;
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return { status: 'timeout', text: '', headers: null };
    return { status: 'error', text: '', headers: null, error: `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}`.slice(0, 300) };
  }
}

/** A JSON call for setting up actors and fixtures: throws unless the status is one of `ok`. */
export async function call(base: string, method: string, path: string, token: string | undefined, body?: unknown, ok: number[] = [200, 201, 202, 204], extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...extraHeaders };
  if (token) headers['x-auth-token'] = token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await send(base + path, method, headers, body === undefined ? undefined : JSON.stringify(body), 30_000);
  if (typeof r.status !== 'number' || !ok.includes(r.status)) throw new Error(`setup ${method} ${path}: ${r.status} ${r.text.slice(0, 300)} ${r.error ?? ''}`);
  return { status: r.status, body: r.text ? JSON.parse(r.text) : null, headers: r.headers! };
}
