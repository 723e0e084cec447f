import type { HostWeigher } from '../types.js';

/** Spread: prefer the host with the most free RAM (Nova's default). */
export const ramWeigher: HostWeigher = {
  name: 'RAMWeigher',
  multiplier: 1.0,
  weigh: (host) => host.freeRamMb,
};
