/**
 * Checks a URL an operator gives for a controller endpoint. Caught at start
 * rather than when the first request fails, with the option named.
 */
export class UrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UrlError';
  }
}

/** An http(s) base URL without query, fragment or credentials; returned without a trailing slash. */
export function parseHttpBaseUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new UrlError(`${what}: "${value}" is not a URL (expected e.g. http://controller:8774)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UrlError(`${what}: "${value}" must be an http:// or https:// URL`);
  }
  if (url.search || url.hash) throw new UrlError(`${what}: "${value}" must not have a query or fragment`);
  if (url.username || url.password) throw new UrlError(`${what}: "${value}" must not carry credentials`);
  return url.href.replace(/\/+$/, '');
}

/** A comma-separated list of such URLs (`--controller a,b`), at least one. */
export function parseHttpBaseUrls(value: string, what: string): string[] {
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new UrlError(`${what}: no URL given`);
  return parts.map((p) => parseHttpBaseUrl(p, what));
}
