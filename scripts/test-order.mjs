// The order `npm test` hands its files to the runner's slots: the longest
// first (so that the slots finish together rather than one waiting on a long
// file started last), as measured in scripts/test-durations.tsv, and never
// two files that take turns on qemu:///system (lockSystemLibvirt) at once
// while another file could run instead: a file waiting for that lock holds a
// slot and does nothing.
import { readFileSync } from 'node:fs';

/** A file not in the list yet (a new one): about the median of the e2e files. */
const UNKNOWN_SECONDS = 15;

/** Seconds per file from a durations list ("seconds<TAB>file" lines, # comments). */
export function readDurations(path) {
  const durations = new Map();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return durations;
  }
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [seconds, file] = line.split('\t');
    if (file && Number.isFinite(Number(seconds))) durations.set(file.trim(), Number(seconds));
  }
  return durations;
}

function takesSystemLibvirt(file) {
  try {
    return readFileSync(file, 'utf8').includes('lockSystemLibvirt');
  } catch {
    return false;
  }
}

/**
 * The files in the order `slots` runner slots should start them: longest
 * first, each started in the simulated slot that frees first, skipping (for
 * now) a file that would wait for the libvirt lock held by a running one.
 */
export function orderTestFiles(files, durations, slots, locked = takesSystemLibvirt) {
  const seconds = (f) => durations.get(f) ?? UNKNOWN_SECONDS;
  const remaining = [...files].sort((a, b) => seconds(b) - seconds(a) || a.localeCompare(b));
  const lockedFiles = new Set(remaining.filter((f) => locked(f)));
  const freeAt = Array.from({ length: Math.max(1, slots) }, () => 0);
  let lockFreeAt = 0;
  const order = [];
  while (remaining.length > 0) {
    const slot = freeAt.indexOf(Math.min(...freeAt));
    const now = freeAt[slot];
    let i = remaining.findIndex((f) => !lockedFiles.has(f) || lockFreeAt <= now);
    if (i < 0) i = 0;
    const file = remaining.splice(i, 1)[0];
    const start = lockedFiles.has(file) ? Math.max(now, lockFreeAt) : now;
    freeAt[slot] = start + seconds(file);
    if (lockedFiles.has(file)) lockFreeAt = freeAt[slot];
    order.push(file);
  }
  return order;
}
