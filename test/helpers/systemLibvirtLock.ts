import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The suites that run guests on the one shared qemu:///system take turns.
 * An agent removes the domains of its host (their ownership metadata names
 * it) that its controller does not place there (after an evacuation, say),
 * and suites name their hosts alike (compute-1…), so a second suite's agent
 * on the same libvirtd could take the first suite's guests down; and TCG
 * guests of two suites at once slow both. One libvirtd, one agent at a
 * time, as on a real host. The lock is a directory (mkdir is atomic) with
 * its holder's pid, so a crashed holder does not block the next run.
 */
const LOCK = join(tmpdir(), 'vdpa-compute-system-libvirt.lock');

export async function lockSystemLibvirt(timeoutMs = 1_200_000): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(LOCK);
      await writeFile(join(LOCK, 'pid'), String(process.pid));
      return async () => { await rm(LOCK, { recursive: true, force: true }); };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number(await readFile(join(LOCK, 'pid'), 'utf8').catch(() => ''));
    if (holder > 0 && !alive(holder)) await rm(LOCK, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`qemu:///system stayed locked by pid ${holder} for ${timeoutMs} ms (${LOCK})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
