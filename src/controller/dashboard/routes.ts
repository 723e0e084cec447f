/**
 * The operator dashboard: static files from web/dashboard (HTML, CSS and
 * plain ES modules, no build step) served by the controller itself at
 * /dashboard, so it works with no network beyond this listener. The page
 * reads the same APIs any client does, with the token its user signed in for.
 */
import type { FastifyInstance } from 'fastify';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';

/** web/dashboard at the repository root, from dist/src/controller/dashboard/. */
export const DASHBOARD_DIR = resolve(import.meta.dirname, '../../../../web/dashboard');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface StaticFile { type: string; body: Buffer }

/** Every servable file under dir, by its path relative to it with forward slashes; read once at start. */
function readFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const type = TYPES[extname(entry.name)];
    if (!type) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path).split(sep).join('/'), { type, body: readFileSync(path) });
  }
  return files;
}

// Everything the page loads comes from this listener; nothing inline, nothing from elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export function dashboardRoutes(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  const files = readFiles(dir);
  const send = (file: StaticFile | undefined, reply: import('fastify').FastifyReply) => {
    if (!file) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
    return reply.type(file.type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(file.body);
  };
  app.get('/dashboard', async (_req, reply) => send(files.get('index.html'), reply));
  app.get<{ Params: { '*': string } }>('/dashboard/*', async (req, reply) => send(files.get(req.params['*'] || 'index.html'), reply));
}
