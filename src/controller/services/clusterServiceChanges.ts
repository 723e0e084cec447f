import { randomUUID } from 'node:crypto';
import { fireServiceChange, relayServiceChanges, type ServiceChange } from './serviceChanges.js';
import type { ControllerContext } from '../context.js';

/** The channel whose notifications carry `{origin, host, change}` as JSON: a PUT os-services in some process. */
export const SERVICE_CHANGE_CHANNEL = 'vdpa_service_change';

interface Relayed {
  origin: string;
  host: string;
  change: ServiceChange;
}

function parse(payload: string): Relayed | null {
  try {
    const p = JSON.parse(payload) as Partial<Relayed>;
    if (typeof p.origin !== 'string' || typeof p.host !== 'string' || !p.change || typeof p.change !== 'object') return null;
    const change: ServiceChange = {};
    if (typeof p.change.forcedDown === 'boolean') change.forcedDown = p.change.forcedDown;
    if (typeof p.change.disabled === 'boolean') change.disabled = p.change.disabled;
    return { origin: p.origin, host: p.host, change };
  } catch {
    return null;
  }
}

/**
 * Service changes across the controller processes of one database: a change
 * served here is published, and one published elsewhere fires this process's
 * onServiceChange listeners (its candidate index stops offering a forced-down
 * host at once; its fencing sweep runs for agents attached here). The origin
 * tag keeps a process from firing its listeners twice for its own change.
 */
export function clusterServiceChanges(ctx: ControllerContext, publish: (payload: string) => void) {
  const origin = randomUUID();
  relayServiceChanges(ctx, (host, change) => publish(JSON.stringify({ origin, host, change } satisfies Relayed)));
  return {
    received(payload: string): void {
      const relayed = parse(payload);
      if (!relayed) {
        ctx.log.warn({ payload: payload.slice(0, 200) }, 'ignoring a malformed service change notification');
        return;
      }
      if (relayed.origin === origin) return;
      const { host, change } = relayed;
      fireServiceChange(host, change).then(
        () => ctx.log.info({ host, change }, 'service change from another controller process applied'),
        (err: Error) => ctx.log.error({ err, host, change }, 'service change from another controller process: a listener failed'),
      );
    },
    stop(): void {
      relayServiceChanges(ctx, null);
    },
  };
}
