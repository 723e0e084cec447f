// Servers: a member's project's servers (an admin's: every project's), with
// status, task state and, for admins, the host.

import { get } from './api.js';
import { html, patch, plural, hostLink, serverLink } from './html.js';

function addressesText(addresses) {
  return Object.entries(addresses ?? {}).map(([net, list]) => `${net}: ${list.map((a) => a.addr).join(', ')}`).join('; ');
}

export function serversView(session) {
  let els;
  return {
    section: 'servers',
    title: 'Servers',
    mount(root) {
      root.innerHTML = String(html`<h1 tabindex="-1">Servers</h1>
        <p>${session.isAdmin ? 'Every project\'s servers.' : html`The servers of project ${session.project}.`}</p>
        <div id="servers-body"><p>Loading…</p></div>`);
      els = { body: root.querySelector('#servers-body') };
    },
    async refresh() {
      const { body } = await get(`/compute/v2.1/servers/detail${session.isAdmin ? '?all_tenants=1' : ''}`, { microversion: '2.47' });
      const servers = [...body.servers].sort((a, b) => a.name.localeCompare(b.name));
      patch(els.body, servers.length === 0 ? html`<p>No servers.</p>` : html`<table class="servers">
        <caption>${plural(servers.length, 'server')}</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Task state</th>
          ${session.isAdmin ? html`<th scope="col">Host</th>` : ''}<th scope="col">Flavor</th><th scope="col">Addresses</th></tr></thead>
        <tbody>${servers.map((s) => html`<tr data-server="${s.id}">
          <th scope="row">${serverLink(s.id, s.name)}</th>
          <td class="server-status">${s.status}</td>
          <td>${s['OS-EXT-STS:task_state'] ?? '—'}</td>
          ${session.isAdmin ? html`<td>${s['OS-EXT-SRV-ATTR:host'] ? hostLink(s['OS-EXT-SRV-ATTR:host']) : '—'}</td>` : ''}
          <td>${s.flavor?.original_name ?? s.flavor?.id ?? ''}</td>
          <td>${addressesText(s.addresses)}</td>
        </tr>`)}</tbody>
      </table>`);
    },
  };
}
