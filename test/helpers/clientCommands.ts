/**
 * Runs the installed `openstack` / `nova` command line clients for the
 * end-to-end tests. Each command costs Python about a second of CPU, most of
 * it importing the client, and the suite runs hundreds: by default a
 * command is a fork of one Python process per test file that imported the
 * client once (preloadedClients.py) and calls the same main() the console
 * script calls, with the command's own environment, argv, stdout, stderr
 * and exit code. VDPA_TEST_CLIENTS=exec runs each as its own process instead.
 *
 * `--wait` polls every WAIT_POLL_SECONDS (0.2 s) instead of osc_lib's
 * 5 s: the client's own loop, looking more often.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ROOT = resolve(import.meta.dirname, '../../..');
const SERVER = join(ROOT, 'test/helpers/preloadedClients.py');
const TIMEOUT_MS = 120_000;
/** How often a client's `--wait` looks at the server in the forked clients. */
export const WAIT_POLL_SECONDS = 0.2;

/** `name`'s console script: its interpreter (shebang) and the module whose main() it calls; null if it is not that kind of script. */
function consoleScript(name: string): { path: string; python: string; module: string } | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    const python = /^#!\s*(\S+)/.exec(text)?.[1];
    const module = /^from (\S+) import main$/m.exec(text)?.[1];
    return python && module && /sys\.exit\(main\(\)\)/.test(text) ? { path, python, module } : null;
  }
  return null;
}

function execClient(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((res) => {
    execFile(cmd, args, { env, timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

interface Server {
  child: ChildProcess;
  waiting: Map<number, (r: CliResult) => void>;
}

let server: Server | undefined;
let nextId = 0;

function startServer(script: { path: string; python: string }): Server {
  // Modules read some settings when imported: the server gets the environment a command would, less OS_*.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_')) env[k] = v;
  const child = spawn(script.python, [SERVER, script.path], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const s: Server = { child, waiting: new Map() };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const answer = JSON.parse(line) as CliResult & { id: number };
    const done = s.waiting.get(answer.id);
    s.waiting.delete(answer.id);
    idle(s);
    done?.({ code: answer.code, stdout: answer.stdout, stderr: answer.stderr });
  });
  child.on('exit', (code, signal) => {
    if (server === s) server = undefined;
    for (const done of s.waiting.values()) done({ code: 1, stdout: '', stderr: `preloadedClients.py exited (${code ?? signal}) during the command` });
    s.waiting.clear();
  });
  idle(s);
  return s;
}

/** The server keeps the test process alive only while a command of it runs. */
function idle(s: Server): void {
  const handles = [s.child, s.child.stdin, s.child.stdout] as unknown as Array<{ ref(): void; unref(): void }>;
  for (const h of handles) {
    if (s.waiting.size > 0) h.ref();
    else h.unref();
  }
}

export type ClientMode = 'preloaded' | 'exec';

/**
 * Runs `cmd args…` (openstack or nova) with exactly `env`; never throws on a
 * non-zero exit. Preloaded unless VDPA_TEST_CLIENTS=exec or the client's
 * script is not a plain console script of the openstack client's Python;
 * `mode` insists on one way (preloaded throws where it cannot be).
 */
export function runClient(cmd: 'openstack' | 'nova', args: string[], env: NodeJS.ProcessEnv, mode?: ClientMode): Promise<CliResult> {
  const wanted = mode ?? (process.env.VDPA_TEST_CLIENTS === 'exec' ? 'exec' : 'preloaded');
  const preloaded = wanted === 'exec' ? null : consoleScript('openstack');
  // The server is the openstack client's; nova's script runs in it when it is of the same Python.
  const script = cmd === 'openstack' ? preloaded : preloaded && consoleScript(cmd);
  if (!preloaded || !script || script.python !== preloaded.python) {
    if (mode === 'preloaded') return Promise.reject(new Error(`${cmd} cannot run preloaded: not a console script of the openstack client's Python`));
    return execClient(cmd, args, env);
  }
  const s = (server ??= startServer(preloaded));
  const id = ++nextId;
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return new Promise((res) => {
    s.waiting.set(id, res);
    idle(s);
    s.child.stdin!.write(`${JSON.stringify({
      id, module: script.module, argv0: script.path, args, env: clean, timeout_s: TIMEOUT_MS / 1000, wait_poll_s: WAIT_POLL_SECONDS,
    })}\n`);
  });
}
