import type { HostSignals } from '../context.js';

/**
 * In-process wake-ups for agents waiting on work. A signal is only a hint:
 * the work itself is in the guests table, and agents also poll, so a lost
 * signal delays work by at most one poll interval and loses nothing.
 */
export function createHostSignals(): HostSignals {
  const waiters = new Map<string, Set<() => void>>();
  const pending = new Set<string>();
  return {
    notify(host) {
      const set = waiters.get(host);
      if (!set || set.size === 0) {
        pending.add(host);
        return;
      }
      waiters.delete(host);
      for (const wake of set) wake();
    },
    wait(host, timeoutMs, signal) {
      if (pending.delete(host)) return Promise.resolve();
      if (signal?.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const set = waiters.get(host) ?? new Set();
        waiters.set(host, set);
        const wake = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', wake);
          set.delete(wake);
          if (set.size === 0 && waiters.get(host) === set) waiters.delete(host);
          resolve();
        };
        const timer = setTimeout(wake, timeoutMs);
        timer.unref?.();
        signal?.addEventListener('abort', wake, { once: true });
        set.add(wake);
      });
    },
  };
}
