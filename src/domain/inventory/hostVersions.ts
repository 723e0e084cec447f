/** The versions a host runs, as its agent reports them (the protocol carries this shape). */
export interface HostVersions {
  kernel: string;
  libvirt: string;
  qemu: string;
}
