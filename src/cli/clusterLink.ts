import type { Logger } from 'pino';
import type { ControllerContext, HostSignals } from '../controller/context.js';
import { clusterServiceChanges, SERVICE_CHANGE_CHANNEL } from '../controller/services/clusterServiceChanges.js';
import { clusterSignals, HOST_WORK_CHANNEL } from '../controller/services/clusterSignals.js';
import type { Store } from '../storage/db.js';
import { NotificationBus } from '../storage/notificationBus.js';

export interface ClusterLink {
  /** The host signals to give the controller context. */
  signals: HostSignals;
  /** Relays service changes (needs the context, which needs the signals) and starts listening. */
  start(ctx: ControllerContext): Promise<void>;
  stop(): Promise<void>;
}

/**
 * What makes controller processes on one PostgreSQL database act as one:
 * host wake-ups and service changes travel between them as notifications.
 */
export function clusterLink(
  databaseUrl: string,
  store: Store,
  local: { signals: HostSignals; watches(host: string): boolean; wakeAll(): void },
  log: Logger,
): ClusterLink {
  let outage = false;
  const bus = new NotificationBus(databaseUrl, store.reader, {
    onError(err, what) {
      if (what === 'publish') {
        log.debug({ err }, 'cluster notification not sent (agents still poll)');
      } else if (!outage) {
        outage = true;
        log.warn({ err }, 'cluster notifications: listening connection lost; reconnecting');
      }
    },
    onReconnect() {
      outage = false;
      log.info('cluster notifications: listening again; waking every attached agent once');
      wakeups.wakeAllAttached();
    },
  });
  const wakeups = clusterSignals(local.signals, {
    runsHere: local.watches,
    wakeAllHere: local.wakeAll,
    publish: (hosts) => bus.publish(HOST_WORK_CHANNEL, hosts),
  });
  bus.on(HOST_WORK_CHANNEL, (host) => wakeups.received(host));
  let services: ReturnType<typeof clusterServiceChanges> | null = null;
  return {
    signals: wakeups.signals,
    async start(ctx) {
      services = clusterServiceChanges(ctx, (payload) => bus.publish(SERVICE_CHANGE_CHANNEL, [payload]));
      bus.on(SERVICE_CHANGE_CHANNEL, (payload) => services?.received(payload));
      await bus.start();
    },
    async stop() {
      services?.stop();
      await bus.close();
    },
  };
}
