import type { HostSignals } from '../context.js';

/** The channel whose notifications carry a host name: that host may have work. */
export const HOST_WORK_CHANNEL = 'vdpa_host_work';

/**
 * How long after its last long poll here a remote agent still counts as
 * attached to this process when a notification names its host: between two
 * polls it runs one work pass, and the wake-up waits in the local latch for
 * its next poll.
 */
export const ATTACHED_GRACE_MS = 10_000;

export interface ClusterSignalsOptions {
  /** The host's agent runs in this process: it is told directly, never through the database. */
  runsHere(host: string): boolean;
  /** Wakes every agent running in this process (after lost notifications). */
  wakeAllHere(): void;
  /** Sends each host name to every controller process, this one included. */
  publish(hosts: string[]): void;
  now?: () => number;
}

export interface ClusterSignals {
  signals: HostSignals;
  /** A host name from some controller process's notify (possibly this one's). */
  received(host: string): void;
  /** Notifications may have been lost (the listening connection dropped): every agent attached here polls once. */
  wakeAllAttached(): void;
}

/**
 * Host wake-ups across the controller processes of one database. An agent
 * long-polls one process, but the work for it may be committed by any; so a
 * notify is also published (once per host per event-loop turn) unless the
 * host's agent runs in this process or is long-polling it right now, and
 * each process wakes the agents attached to it. An agent between two polls
 * here is notified anyway: it may come back to another process (it moved, or
 * this one is going away), and one notification costs less than a wake-up
 * that waits for a poll timeout. A host whose agent runs in this process
 * never costs a database round trip: the all-in-one places hundreds of
 * servers a second on such hosts. Like the local signals, these are hints:
 * agents also poll.
 */
export function clusterSignals(local: HostSignals, o: ClusterSignalsOptions): ClusterSignals {
  const now = o.now ?? Date.now;
  /** Long polls in progress here, per host. */
  const waiting = new Map<string, number>();
  /**
   * When each host's last long poll here ended. Entries go when found stale;
   * one of a host never notified again stays, which bounds the map by the
   * hosts that ever polled here.
   */
  const lastPoll = new Map<string, number>();
  /** Hosts that long-polled here since this process started. */
  const seen = new Set<string>();
  let outgoing: Set<string> | null = null;

  const attached = (host: string): boolean => {
    if (waiting.has(host)) return true;
    const at = lastPoll.get(host);
    if (at === undefined) return false;
    if (now() - at <= ATTACHED_GRACE_MS) return true;
    lastPoll.delete(host);
    return false;
  };

  const flush = () => {
    const hosts = outgoing ? [...outgoing] : [];
    outgoing = null;
    o.publish(hosts);
  };

  const signals: HostSignals = {
    notify(host) {
      local.notify(host);
      if (o.runsHere(host) || waiting.has(host)) return;
      if (!outgoing) {
        outgoing = new Set();
        // A placement burst notifies the same hosts many times in one turn: one send carries them all.
        setImmediate(flush);
      }
      outgoing.add(host);
    },
    async wait(host, timeoutMs, signal) {
      if (!seen.has(host)) {
        // Wake-ups for it before it came here went where it was, or nowhere (this process was
        // down): its first poll here answers at once, so that it looks for work.
        seen.add(host);
        lastPoll.set(host, now());
        return;
      }
      waiting.set(host, (waiting.get(host) ?? 0) + 1);
      try {
        await local.wait(host, timeoutMs, signal);
      } finally {
        const left = (waiting.get(host) ?? 1) - 1;
        if (left > 0) waiting.set(host, left);
        else waiting.delete(host);
        lastPoll.set(host, now());
      }
    },
  };

  return {
    signals,
    received(host) {
      if (o.runsHere(host) || attached(host)) local.notify(host);
    },
    wakeAllAttached() {
      for (const host of new Set([...waiting.keys(), ...lastPoll.keys()])) {
        if (attached(host)) local.notify(host);
      }
      o.wakeAllHere();
    },
  };
}
