/**
 * Helpers for e2e tests of `vdpa-compute agent` as its own process against the
 * all-in-one's controller (test/helpers/allInOneProcess.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'dist/src/cli/main.js');

export interface AgentProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output contains `text` (or rejects after timeoutMs). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The agents' password, as bootstrap stored it in the controller's SQLite database. */
export function agentPassword(dataDir: string): string {
  const db = new Database(join(dataDir, 'vdpa-compute.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT value FROM settings WHERE key = 'agent_password'").get() as { value: string } | undefined;
    if (!row) throw new Error('no agent_password in the controller database');
    return row.value;
  } finally {
    db.close();
  }
}

function watch(child: ChildProcess): { output: () => string; waitFor: AgentProcess['waitFor'] } {
  let out = '';
  child.stdout!.on('data', (d) => { out += String(d); });
  child.stderr!.on('data', (d) => { out += String(d); });
  return {
    output: () => out,
    async waitFor(text, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      const found = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
      while (!found()) {
        if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before printing ${text}:\n${out}`);
        if (Date.now() > until) throw new Error(`no ${text} in ${timeoutMs} ms:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  await new Promise<void>((res) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); res(); }, 5000);
    child.once('exit', () => { clearTimeout(t); res(); });
  });
}

/** Starts `vdpa-compute agent <args>` with the service password in its environment. */
export function startAgentProcess(args: string[], env: Record<string, string>): AgentProcess {
  const child = spawn(process.execPath, [MAIN, 'agent', ...args], {
    env: { ...process.env, VDPA_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const w = watch(child);
  return { child, ...w, stop: () => stopChild(child) };
}

/**
 * Starts the all-in-one's controller again on the same port and data directory
 * (after its process was killed), as `vdpa-compute serve` would be restarted.
 */
export async function restartServe(url: string, dataDir: string, withHostsFile: boolean): Promise<AgentProcess> {
  const port = new URL(url).port;
  const env: NodeJS.ProcessEnv = { ...process.env, VDPA_PORT: port, VDPA_DATA_DIR: dataDir, VDPA_LOG_LEVEL: 'warn' };
  if (withHostsFile) env.VDPA_HOSTS_FILE = join(dataDir, 'hosts.yaml');
  const child = spawn(process.execPath, [MAIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const w = watch(child);
  await w.waitFor('vdpa-compute is listening', 30_000);
  return { child, ...w, stop: () => stopChild(child) };
}

export async function killHard(child: ChildProcess): Promise<void> {
  await stopChild(child, 'SIGKILL');
}
