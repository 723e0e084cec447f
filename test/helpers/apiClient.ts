import { startTestController, type TestController } from './testController.js';

/** A running test controller with a token for each bootstrap user. */
export interface ControllerWithTokens {
  c: TestController;
  admin: string;
  demo: string;
}

/** Starts a test controller and issues the admin and the demo token on it. */
export async function startControllerWithTokens(): Promise<ControllerWithTokens> {
  const c = await startTestController();
  const admin = await c.token('admin');
  const demo = await c.token('demo');
  return { c, admin, demo };
}

/** Sends `method url` with the token as x-auth-token (when given), a JSON body (when given) and extra headers. */
export function sendJson(method: string, url: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method,
    headers: {
      ...(token ? { 'x-auth-token': token } : {}),
      ...headers,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** A `call(method, path, token, body?)` for one API whose paths start at `base`; the URL is read per call, as the controller starts in before(). */
export function apiCaller(controllerUrl: () => string, base: string) {
  return (method: string, path: string, token: string | undefined, body?: unknown): Promise<Response> =>
    sendJson(method, `${controllerUrl()}${base}${path}`, token, body);
}
