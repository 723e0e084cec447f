// Fleet: every compute host with its service state and, per NIC (PF), its VFs
// and vDPA devices as cells (status text + colour, the server holding each),
// with filters by physical network, status and host name, and counts per host
// and in total. One request (os-vdpa-fleet), re-read only when its ETag moves.

import { get } from './api.js';
import { cellBadge, escape, html, patch, plural, raw, STATUSES, shortAddress, hostLink, serverLink, statusBadge } from './html.js';

/** "3 available, 1 allocated" (statuses in their usual order), or "none". */
export function countsText(devices) {
  const counts = new Map();
  for (const d of devices) counts.set(d.status, (counts.get(d.status) ?? 0) + 1);
  const parts = STATUSES.filter((s) => counts.has(s.status)).map((s) => `${counts.get(s.status)} ${s.status}`);
  return parts.length ? parts.join(', ') : 'none';
}

export function hostStateList(h) {
  return html`<ul class="host-state">
    <li class="state-${h.state}">${h.state}</li>
    <li class="status-${h.status}">${h.status}${h.disabled_reason ? html` (${h.disabled_reason})` : ''}</li>
    ${h.forced_down ? html`<li class="forced-down">forced down</li>` : ''}
    <li>service version ${h.service_version ?? 'unknown'}</li>
    ${h.vdpa_unsupported_reason ? html`<li class="unsupported">vDPA unsupported: ${h.vdpa_unsupported_reason}</li>` : ''}
  </ul>`;
}

// The hot path of a 1,000-host page (one per VF): a plain string, no nested templates.
function cell(d) {
  const holder = d.server_id ? String(serverLink(d.server_id, d.server_name)) : '<span class="free">no server</span>';
  const kind = d.dev_type === 'vdpa' ? 'vDPA' : escape(d.dev_type.replace(/^type-/, ''));
  return `<li class="cell st-${escape(d.status)}" data-address="${escape(d.address)}" data-status="${escape(d.status)}">${cellBadge(d.status)} `
    + `<span class="addr">${escape(shortAddress(d.address))}</span> <span class="kind">${kind}</span> <span class="holder">${holder}</span></li>`;
}

function nicBlock(host, nic, functions, filtered) {
  const label = `NIC ${nic.address}`;
  return html`<div class="nic">
    <h3>${label} <span class="nic-meta">PF ${statusBadge(nic.status)}</span></h3>
    <p class="nic-meta">${nic.physical_network ?? 'no physical network'} · NUMA node ${nic.numa_node ?? 'unknown'} · ${countsText(functions)}</p>
    ${functions.length
    ? html`<ul class="cells" aria-label="${`Devices of ${label} on ${host}`}">${raw(functions.map(cell).join(''))}</ul>`
    : html`<p class="empty">${filtered ? 'No VFs or vDPA devices match the filters.' : 'No VFs or vDPA devices tracked.'}</p>`}
  </div>`;
}

/**
 * The hosts' sections, each replaced only when its own markup changed: a
 * device moving on one host rewrites that host alone, so a 1,000-host page
 * updates in a moment and keyboard focus elsewhere stays where it was.
 */
function sectionList(container) {
  let keys = null;
  let markups = [];
  return {
    show(entries) {
      const nextKeys = entries.map(([key]) => key).join('\n');
      if (nextKeys !== keys) {
        container.innerHTML = entries.map(([, markup]) => markup).join('');
        keys = nextKeys;
        markups = entries.map(([, markup]) => markup);
        return;
      }
      entries.forEach(([, markup], i) => {
        if (markups[i] === markup) return;
        const template = document.createElement('template');
        template.innerHTML = markup;
        container.children[i].replaceWith(template.content);
        markups[i] = markup;
      });
    },
  };
}

export function fleetView() {
  let data = null;
  let hostList;
  let etag;
  const filter = { physnet: '', status: '', host: '' };
  let els;

  const keep = (d) => (!filter.physnet || d.physical_network === filter.physnet) && (!filter.status || d.status === filter.status);

  function render() {
    if (!data) return;
    const physnets = [...new Set(data.hosts.flatMap((h) => h.nics.flatMap((n) => [n, ...n.functions]).map((d) => d.physical_network)).filter(Boolean))].sort();
    patch(els.physnet, html`<option value="">All</option>${physnets.map((p) => html`<option value="${p}"${p === filter.physnet ? html` selected` : ''}>${p}</option>`)}`);
    const deviceFilter = filter.physnet !== '' || filter.status !== '';
    const shown = [];
    for (const h of data.hosts) {
      if (filter.host && !h.host.includes(filter.host)) continue;
      const nics = [...h.nics, ...(h.other_devices.length ? [{ address: 'without a tracked PF', status: 'unavailable', functions: h.other_devices }] : [])]
        .map((n) => ({ nic: n, functions: n.functions.filter(keep) }));
      const visible = nics.flatMap((n) => n.functions);
      if (deviceFilter && visible.length === 0) continue;
      shown.push({ h, nics: deviceFilter ? nics.filter((n) => n.functions.length) : nics, visible });
    }
    const all = shown.flatMap((s) => s.visible);
    const up = shown.filter((s) => s.h.state === 'up').length;
    patch(els.summary, html`<p><strong>${shown.length}</strong> of ${data.hosts.length} hosts shown (${up} up, ${shown.length - up} down);
      <strong>${all.length}</strong> VFs and vDPA devices: <span data-testid="fleet-counts">${countsText(all)}</span>.</p>`);
    if (shown.length === 0) hostList.show([['', '<p>No hosts match the filters.</p>']]);
    else hostList.show(shown.map(({ h, nics, visible }) => [h.host, String(html`<section class="host" aria-labelledby="${`host-${h.host}`}" data-host="${h.host}">
      <h2 id="${`host-${h.host}`}">${hostLink(h.host)}</h2>
      ${hostStateList(h)}
      <p class="counts">${visible.length ? `${plural(visible.length, 'device')}: ${countsText(visible)}` : 'no VFs or vDPA devices'}</p>
      ${nics.map(({ nic, functions }) => nicBlock(h.host, nic, functions, deviceFilter))}
    </section>`)]));
    // For bench/dashboard.ts: when the first full picture was in the DOM, from navigation start.
    if (performance.getEntriesByName('vdpa-fleet-rendered').length === 0) performance.mark('vdpa-fleet-rendered');
  }

  return {
    section: 'fleet',
    title: 'Fleet',
    mount(root) {
      root.innerHTML = String(html`<h1 tabindex="-1">Fleet</h1>
        <form class="filters" role="search" aria-label="Filter the fleet">
          <p><label for="f-physnet">Physical network</label> <select id="f-physnet"></select></p>
          <p><label for="f-status">Status</label> <select id="f-status"><option value="">All</option>${STATUSES.map((s) => html`<option value="${s.status}">${s.status}</option>`)}</select></p>
          <p><label for="f-host">Host name contains</label> <input id="f-host" type="search"></p>
        </form>
        <section class="legend" aria-labelledby="legend-heading">
          <h2 id="legend-heading" class="sr-only">Legend</h2>
          <ul>${STATUSES.map((s) => html`<li>${statusBadge(s.status)} ${s.status}</li>`)}</ul>
        </section>
        <div id="fleet-summary" class="summary"></div>
        <div id="fleet-hosts"><p>Loading…</p></div>`);
      els = { physnet: root.querySelector('#f-physnet'), summary: root.querySelector('#fleet-summary'), hosts: root.querySelector('#fleet-hosts') };
      hostList = sectionList(els.hosts);
      const form = root.querySelector('form');
      form.addEventListener('submit', (e) => e.preventDefault());
      form.addEventListener('input', () => {
        filter.physnet = els.physnet.value;
        filter.status = root.querySelector('#f-status').value;
        filter.host = root.querySelector('#f-host').value.trim();
        render();
      });
    },
    async refresh() {
      const r = await get('/compute/v2.1/os-vdpa-fleet', { etag });
      if (r.unchanged) return;
      data = r.body;
      etag = r.etag;
      render();
    },
  };
}
