// One host: its service state, NUMA placement, and per NIC a table of its
// devices with address, type, status, chardev, server and port.

import { get } from './api.js';
import { countsText, hostStateList } from './fleetView.js';
import { html, patch, plural, serverLink, statusBadge } from './html.js';

function deviceRow(d, pf) {
  return html`<tr data-address="${d.address}" data-status="${d.status}">
    <th scope="row"><code>${d.address}</code></th>
    <td>${pf ? 'PF' : d.dev_type === 'vdpa' ? 'vDPA' : d.dev_type.replace(/^type-/, '')}</td>
    <td>${statusBadge(d.status)} ${d.status}</td>
    <td>${d.numa_node ?? '—'}</td>
    <td>${d.physical_network ?? '—'}</td>
    <td>${d.vdpa_name ?? '—'}</td>
    <td>${d.vdpa_chardev ? html`<code>${d.vdpa_chardev}</code>` : '—'}</td>
    <td>${d.server_id ? serverLink(d.server_id, d.server_name) : '—'}</td>
    <td>${d.port_id ? html`<code>${d.port_id}</code>` : '—'}</td>
  </tr>`;
}

function deviceTable(caption, rows) {
  return html`<table class="devices">
    <caption>${caption}</caption>
    <thead><tr><th scope="col">Address</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">NUMA node</th>
      <th scope="col">Physical network</th><th scope="col">vDPA device</th><th scope="col">Chardev</th><th scope="col">Server</th><th scope="col">Port</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`;
}

function numaSection(h) {
  const byNode = new Map();
  for (const d of [...h.nics.flatMap((n) => [n, ...n.functions]), ...h.other_devices]) {
    const key = d.numa_node ?? 'unknown';
    byNode.set(key, [...(byNode.get(key) ?? []), d]);
  }
  return html`<section aria-labelledby="numa-heading">
    <h2 id="numa-heading">NUMA</h2>
    <p>${h.numa_cells ? '' : 'NUMA cells are not reported by this host yet; each device shows its NUMA node.'}</p>
    <ul>${[...byNode].map(([node, devices]) => html`<li>NUMA node ${node}: ${plural(devices.length, 'device')} (${countsText(devices)})</li>`)}</ul>
  </section>`;
}

export function hostView(name) {
  let etag;
  let els;
  return {
    section: 'fleet',
    title: `Host ${name}`,
    mount(root) {
      root.innerHTML = String(html`<p class="crumbs"><a href="#/fleet">Fleet</a> › ${name}</p>
        <h1 tabindex="-1">Host ${name}</h1><div id="host-body"><p>Loading…</p></div>`);
      els = { body: root.querySelector('#host-body') };
    },
    async refresh() {
      const r = await get(`/compute/v2.1/os-vdpa-fleet?host=${encodeURIComponent(name)}`, { etag });
      if (r.unchanged) return;
      etag = r.etag;
      const h = r.body.hosts[0];
      const versions = Object.entries(h.versions).map(([k, v]) => `${k} ${v}`).join(', ');
      patch(els.body, html`
        ${hostStateList(h)}
        <dl class="facts">
          <dt>Hypervisor</dt><dd>${h.hypervisor_type ?? '—'}</dd>
          <dt>Host IP</dt><dd>${h.host_ip ?? '—'}</dd>
          <dt>Versions</dt><dd>${versions || '—'}</dd>
          <dt>Devices</dt><dd data-testid="host-counts">${countsText([...h.nics.flatMap((n) => n.functions), ...h.other_devices])}</dd>
        </dl>
        ${numaSection(h)}
        <section aria-labelledby="nics-heading">
          <h2 id="nics-heading">NICs</h2>
          ${h.nics.length === 0 && h.other_devices.length === 0 ? html`<p>No tracked devices.</p>` : ''}
          ${h.nics.map((nic) => deviceTable(`NIC ${nic.address} (${nic.physical_network ?? 'no physical network'}): the PF and its ${nic.functions.length} VFs and vDPA devices`,
    [deviceRow(nic, true), ...nic.functions.map((d) => deviceRow(d, false))]))}
          ${h.other_devices.length ? deviceTable('Devices without a tracked PF', h.other_devices.map((d) => deviceRow(d, false))) : ''}
        </section>`);
    },
  };
}
