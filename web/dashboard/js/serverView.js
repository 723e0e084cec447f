// One server: status and task state, host, ports with their bindings and the
// devices behind them, the instance actions with their events, and (admins)
// the guest's domain XML. Each section is replaced only when its content changed.

import { ApiError, get } from './api.js';
import { html, patch, plural, hostLink, statusBadge, time } from './html.js';

const dash = '—';

function summary(s, isAdmin) {
  const host = s['OS-EXT-SRV-ATTR:host'];
  return html`<dl class="facts">
    <dt>Status</dt><dd data-testid="server-status">${s.status}</dd>
    <dt>Task state</dt><dd data-testid="server-task-state">${s['OS-EXT-STS:task_state'] ?? dash}</dd>
    <dt>VM state</dt><dd>${s['OS-EXT-STS:vm_state']}</dd>
    ${isAdmin ? html`<dt>Host</dt><dd data-testid="server-host">${host ? hostLink(host) : dash}</dd>` : ''}
    <dt>Flavor</dt><dd>${s.flavor?.original_name ?? s.flavor?.id ?? dash}</dd>
    <dt>Project</dt><dd><code>${s.tenant_id}</code></dd>
    <dt>Created</dt><dd>${time(s.created)}</dd>
    ${s.fault ? html`<dt>Fault</dt><dd class="error">${s.fault.message}</dd>` : ''}
  </dl>`;
}

function portsTable(ports, devices, isAdmin) {
  if (ports.length === 0) return html`<p>No ports.</p>`;
  const deviceAt = new Map(devices.map((d) => [d.address, d]));
  return html`<table class="ports">
    <caption>${plural(ports.length, 'port')}</caption>
    <thead><tr><th scope="col">Port</th><th scope="col">VNIC type</th><th scope="col">Status</th><th scope="col">MAC</th><th scope="col">Fixed IPs</th>
      ${isAdmin ? html`<th scope="col">Binding host</th><th scope="col">VIF type</th><th scope="col">PCI slot</th><th scope="col">Physical network</th><th scope="col">Device</th>` : ''}</tr></thead>
    <tbody>${ports.map((p) => {
    const profile = p['binding:profile'] ?? {};
    const device = profile.pci_slot ? deviceAt.get(profile.pci_slot) : undefined;
    return html`<tr data-port="${p.id}">
      <th scope="row">${p.name || p.id}<br><code class="small">${p.id}</code></th>
      <td>${p['binding:vnic_type']}</td>
      <td>${p.status}</td>
      <td><code>${p.mac_address}</code></td>
      <td>${p.fixed_ips.map((f) => f.ip_address).join(', ')}</td>
      ${isAdmin ? html`<td>${p['binding:host_id'] ? hostLink(p['binding:host_id']) : dash}</td>
        <td>${p['binding:vif_type']}</td>
        <td>${profile.pci_slot ? html`<code>${profile.pci_slot}</code>` : dash}</td>
        <td>${profile.physical_network ?? dash}</td>
        <td>${device ? html`${statusBadge(device.status)} ${device.dev_type}${device.vdpa_chardev ? html` <code>${device.vdpa_chardev}</code>` : ''}` : dash}</td>` : ''}
    </tr>`;
  })}</tbody>
  </table>`;
}

function devicesTable(devices) {
  if (devices.length === 0) return html`<p>The server holds no PCI devices on its host.</p>`;
  return html`<table class="devices">
    <caption>Devices held on the server's host</caption>
    <thead><tr><th scope="col">Address</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Parent PF</th><th scope="col">Chardev</th></tr></thead>
    <tbody>${devices.map((d) => html`<tr data-address="${d.address}">
      <th scope="row"><code>${d.address}</code></th><td>${d.dev_type}</td><td>${statusBadge(d.missing ? 'missing' : d.status)} ${d.missing ? 'missing' : d.status}</td>
      <td>${d.parent_addr ? html`<code>${d.parent_addr}</code>` : dash}</td><td>${d.vdpa_chardev ? html`<code>${d.vdpa_chardev}</code>` : dash}</td>
    </tr>`)}</tbody>
  </table>`;
}

function eventsList(events) {
  if (events.length === 0) return dash;
  return html`<ul class="events">${events.map((e) => html`<li>${e.event}${e.host ? html` on ${e.host}` : ''}: ${e.result ?? 'in progress'}${e.details ? html` (${e.details})` : ''}</li>`)}</ul>`;
}

function actionsTable(actions, eventsOf) {
  if (actions.length === 0) return html`<p>No actions yet.</p>`;
  return html`<table class="actions">
    <caption>${plural(actions.length, 'action')}, newest first</caption>
    <thead><tr><th scope="col">Action</th><th scope="col">Started</th><th scope="col">Request</th><th scope="col">Result</th><th scope="col">Events</th></tr></thead>
    <tbody>${actions.map((a) => html`<tr data-request="${a.request_id}">
      <th scope="row">${a.action}</th>
      <td>${time(a.start_time)}</td>
      <td><code class="small">${a.request_id}</code></td>
      <td>${a.message ?? (a.result ?? 'in progress')}</td>
      <td>${eventsList(eventsOf.get(a.request_id) ?? [])}</td>
    </tr>`)}</tbody>
  </table>`;
}

export function serverView(id, session) {
  let els;
  const events = new Map(); // request id → { key, events }
  return {
    section: 'servers',
    title: 'Server',
    mount(root) {
      root.innerHTML = String(html`<p class="crumbs"><a href="#/servers">Servers</a> › <span id="server-crumb">${id}</span></p>
        <h1 tabindex="-1">Server <span id="server-name">${id}</span></h1>
        <div id="server-summary"><p>Loading…</p></div>
        <section aria-labelledby="ports-heading"><h2 id="ports-heading">Ports</h2><div id="server-ports"></div></section>
        ${session.isAdmin ? html`<section aria-labelledby="devices-heading"><h2 id="devices-heading">Devices</h2><div id="server-devices"></div></section>` : ''}
        <section aria-labelledby="actions-heading"><h2 id="actions-heading">Instance actions</h2><div id="server-actions"></div></section>
        ${session.isAdmin ? html`<section aria-labelledby="xml-heading"><h2 id="xml-heading">Domain XML</h2><div id="server-xml"></div></section>` : ''}`);
      const q = (sel) => root.querySelector(sel);
      els = {
        name: q('#server-name'), crumb: q('#server-crumb'), summary: q('#server-summary'), ports: q('#server-ports'),
        devices: q('#server-devices'), actions: q('#server-actions'), xml: q('#server-xml'),
      };
    },
    async refresh() {
      const [{ body: { server } }, { body: { ports } }, { body: { instanceActions } }] = await Promise.all([
        get(`/compute/v2.1/servers/${encodeURIComponent(id)}`, { microversion: '2.47' }),
        get(`/network/v2.0/ports?device_id=${encodeURIComponent(id)}`),
        get(`/compute/v2.1/servers/${encodeURIComponent(id)}/os-instance-actions`),
      ]);
      const host = server['OS-EXT-SRV-ATTR:host'];
      let devices = [];
      let xml = null;
      if (session.isAdmin) {
        const [pci, domain] = await Promise.all([
          host ? get(`/compute/v2.1/os-pci/detail?host=${encodeURIComponent(host)}`) : null,
          get(`/compute/v2.1/servers/${encodeURIComponent(id)}/domain-xml`).catch((e) => {
            if (e instanceof ApiError && e.status === 404) return null;
            throw e;
          }),
        ]);
        devices = pci ? pci.body.pci_devices.filter((d) => d.instance_uuid === id) : [];
        xml = domain ? domain.body : null;
      }
      // An action's events are read again only while it is unfinished or when it changed.
      await Promise.all(instanceActions.map(async (a) => {
        const key = `${a.updated_at} ${a.result}`;
        if (events.get(a.request_id)?.key === key && a.result) return;
        const r = await get(`/compute/v2.1/servers/${encodeURIComponent(id)}/os-instance-actions/${encodeURIComponent(a.request_id)}`, { microversion: '2.84' });
        events.set(a.request_id, { key, events: r.body.instanceAction.events ?? [] });
      }));
      const eventsOf = new Map([...events].map(([k, v]) => [k, v.events]));
      patch(els.name, html`${server.name}`);
      patch(els.crumb, html`${server.name}`);
      document.title = `Server ${server.name} · vdpa-compute`;
      patch(els.summary, summary(server, session.isAdmin));
      patch(els.ports, portsTable(ports, devices, session.isAdmin));
      if (els.devices) patch(els.devices, devicesTable(devices));
      patch(els.actions, actionsTable([...instanceActions].sort((a, b) => b.start_time.localeCompare(a.start_time)), eventsOf));
      if (els.xml) {
        patch(els.xml, xml
          ? html`<p>As given to the virt driver on ${xml.host}.</p><pre class="xml" tabindex="0" aria-label="Domain XML text"><code>${xml.domain_xml}</code></pre>`
          : html`<p>No guest definition yet.</p>`);
      }
    },
  };
}
