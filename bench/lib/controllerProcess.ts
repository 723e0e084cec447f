import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

/** The repository root, from dist/bench/lib/. */
export const ROOT = resolve(import.meta.dirname, '../../..');

export interface ControllerProcess {
  child: ChildProcess;
  url: URL;
  /** Peak resident set size so far, in MiB (the kernel's VmHWM, plus our own samples). */
  peakRssMb(): Promise<number>;
  /** CPU time (user + system) the controller has used so far, in ms. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

/** USER_HZ: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

async function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Starts `vdpa-compute serve` as its own process, exactly as `npm start` does,
 * and resolves once it says it is listening (its simulated hosts have then
 * registered). `nodeArgs` lets a run add e.g. --cpu-prof.
 */
export async function startController(env: Record<string, string>, nodeArgs: string[] = [], startTimeoutMs = 600_000): Promise<ControllerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist/src/cli/main.js'), 'serve'], {
    env: { ...process.env, VDPA_LOG_LEVEL: 'warn', ...env, VDPA_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let listening = false;
  const keep = (d: Buffer) => {
    output += String(d);
    // The banner lists every host after this line: look before trimming.
    listening ||= output.includes('vdpa-compute is listening');
    if (output.length > 64_000) output = output.slice(-32_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  let peakKb = 0;
  const sampler = setInterval(() => {
    if (child.pid) void statusKb(child.pid, 'VmRSS').then((kb) => { peakKb = Math.max(peakKb, kb); });
  }, 100);
  sampler.unref();

  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vdpa-compute serve exited (${child.exitCode}):\n${output}`);
    if (listening) break;
    if (Date.now() - started > startTimeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`vdpa-compute serve did not start in ${startTimeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url: new URL(`http://127.0.0.1:${port}`),
    async peakRssMb() {
      if (child.pid) peakKb = Math.max(peakKb, await statusKb(child.pid, 'VmHWM'));
      return Math.round(peakKb / 102.4) / 10;
    },
    async cpuMs() {
      try {
        // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name.
        const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
      } catch {
        return 0;
      }
    },
    async stop() {
      clearInterval(sampler);
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise<void>((res) => {
        const t = setTimeout(() => { child.kill('SIGKILL'); res(); }, 15_000);
        child.once('exit', () => { clearTimeout(t); res(); });
      });
    },
  };
}
