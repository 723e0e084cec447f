/**
 * A real HTTP proxy in front of a controller, playing a controller (or a
 * replica behind a load balancer) that goes away in the ways an agent meets:
 * connections reset, the port closed (refused), or a 503 from a proxy that
 * cannot reach it. It records the tokens it forwards.
 */
import { createServer, request, type Server } from 'node:http';
import type { Socket } from 'node:net';

export type ProxyMode = 'up' | 'reset' | '503';

export interface Proxy {
  url: string;
  mode: ProxyMode;
  /** Kept for compatibility: true is mode 'reset'. */
  down: boolean;
  tokens: string[];
  /** Requests this proxy answered itself or forwarded, by path. */
  requests: string[];
  /** Closes the listening port: new connections are refused until start(). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let port = 0;
  const self: Proxy = {
    url: '', mode: 'up', tokens: [], requests: [],
    get down() { return this.mode === 'reset'; },
    set down(v: boolean) { this.mode = v ? 'reset' : 'up'; },
    stop: async () => {}, start: async () => {}, close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    self.requests.push(req.url ?? '');
    if (self.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (self.mode === '503') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
      return;
    }
    const token = req.headers['x-auth-token'];
    if (typeof token === 'string') self.tokens.push(token);
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    // A client that goes away takes its upstream request with it, as a load balancer's would.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = () => new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  await listen();
  port = (server.address() as { port: number }).port;
  self.url = `http://127.0.0.1:${port}`;
  self.stop = async () => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  self.start = listen;
  self.close = async () => {
    if (server.listening) await self.stop();
  };
  return self;
}
