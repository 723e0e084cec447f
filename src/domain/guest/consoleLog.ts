import type { GuestSpec } from './spec.js';

/**
 * Console logs as `os-getConsoleOutput` returns them: at most the last
 * MAX_CONSOLE_BYTES of the log (Nova's libvirt driver reads no more), then
 * the last `lines` lines when asked, without the control characters Nova
 * strips (all below 0x20 but tab, newline and carriage return).
 */
export const MAX_CONSOLE_BYTES = 100 * 1024;

export function tailLines(text: string, lines: number | null): string {
  const clean = text.replace(/[\x00-\x08\x0B-\x0C\x0E-\x1F]/g, '');
  if (lines === null || lines < 0) return clean;
  if (lines === 0) return '';
  const all = clean.split('\n');
  // A log ending in a newline has an empty last "line": the tail counts real lines.
  const trailing = all[all.length - 1] === '' ? all.pop() : undefined;
  const tail = all.slice(-lines);
  return tail.join('\n') + (trailing !== undefined ? '\n' : '');
}

/**
 * The boot log of a simulated guest: what a CirrOS guest prints on its
 * serial console for each start, its NICs by MAC (vDPA ones as virtio-net,
 * which is what the guest sees). Made from the spec on demand, so the
 * simulator keeps no text per guest.
 */
export function simulatedBootLog(spec: GuestSpec, boots: number): string {
  const out: string[] = [];
  for (let boot = 1; boot <= boots; boot++) {
    out.push(
      '[    0.000000] Linux version 5.15.0-71-generic (buildd@lcy02-amd64-044) #78-Ubuntu SMP',
      `[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz root=LABEL=cirros-rootfs ro console=tty1 console=ttyS0`,
      `[    0.010000] Memory: ${spec.memoryMb * 1024}K available, ${spec.vcpus} CPU(s)`,
      `[    0.500000] smpboot: Allowing ${spec.vcpus} CPUs`,
    );
    spec.interfaces.forEach((iface, i) => {
      const driver = iface.kind === 'hostdev' ? 'mlx5_core' : 'virtio_net';
      out.push(`[    1.${String(200000 + i * 1000)}] ${driver} eth${i}: MAC address ${iface.macAddress.toLowerCase()}`);
    });
    out.push(
      'Starting network: udhcpc: started',
      ...spec.interfaces.map((iface, i) => `checking http://169.254.169.254/2009-04-04/instance-id  eth${i} ${iface.macAddress.toLowerCase()} up`),
      `=== ${spec.name} boot ${boot} ===`,
      '  ____               ____  ____',
      ' / __/ __ ____ ____ / __ \\/ __/',
      '/ /__ / // __// __// /_/ /\\ \\ ',
      '\\___//_//_/  /_/   \\____/___/ ',
      '   http://cirros-cloud.net',
      '',
      `login as 'cirros' user. default password: 'gocubsgo'. use 'sudo' for root.`,
      `${spec.name} login: `,
    );
  }
  return out.join('\n') + (out.length ? '\n' : '');
}
