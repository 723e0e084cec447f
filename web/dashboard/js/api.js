// The signed-in session (an identity token kept in sessionStorage, so it ends
// with the tab) and reads of the OpenStack APIs on this same listener.

const KEY = 'vdpa-dashboard-session';

/** Thrown when the token is refused: the page goes back to the sign-in form. */
export class SignedOut extends Error {}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function currentSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    if (s && Date.parse(s.expiresAt) > Date.now()) return s;
  } catch { /* a damaged entry is no session */ }
  sessionStorage.removeItem(KEY);
  return null;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** POST /identity/v3/auth/tokens with a password; scoped to `project` when given, else the user's default project. */
export async function signIn(user, password, project) {
  const auth = {
    identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
    ...(project ? { scope: { project: { name: project, domain: { name: 'Default' } } } } : {}),
  };
  const res = await fetch('/identity/v3/auth/tokens?nocatalog', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth }),
  });
  const body = await res.json().catch(() => null);
  if (res.status !== 201) throw new ApiError(res.status, body?.error?.message ?? `Sign-in failed (${res.status})`);
  const t = body.token;
  const roles = t.roles.map((r) => r.name);
  const session = {
    token: res.headers.get('x-subject-token'),
    user: t.user.name, project: t.project.name, projectId: t.project.id,
    roles, isAdmin: roles.includes('admin'), expiresAt: t.expires_at,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

/** The message of an OpenStack error body, whatever API answered it. */
function errorMessage(body, status) {
  if (body && typeof body === 'object') {
    const inner = Object.values(body)[0];
    if (inner && typeof inner === 'object' && typeof inner.message === 'string') return inner.message;
  }
  return `HTTP ${status}`;
}

/**
 * GET an API path with the session's token. With `etag`, a 304 answers
 * `{ unchanged: true }`; else `{ body, etag }`.
 */
export async function get(path, { etag, microversion } = {}) {
  const session = currentSession();
  if (!session) throw new SignedOut();
  const headers = { 'x-auth-token': session.token };
  if (etag) headers['if-none-match'] = etag;
  if (microversion) headers['openstack-api-version'] = `compute ${microversion}`;
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (res.status === 401) {
    signOut();
    throw new SignedOut();
  }
  if (res.status === 304) return { unchanged: true };
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, errorMessage(body, res.status));
  return { body, etag: res.headers.get('etag') };
}
