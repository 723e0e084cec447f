// HTML built as strings with every interpolated value escaped: one innerHTML
// write per change keeps a 1,000-host page fast, and escaping by default keeps
// names and messages from the API from becoming markup.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

class Markup {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

export function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function piece(value) {
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return value.map(piece).join('');
  if (value === null || value === undefined || value === false) return '';
  return escape(value);
}

/** Markup already built and escaped elsewhere (the fleet's cells), kept as it is. */
export function raw(text) {
  return new Markup(text);
}

// A template's line breaks and indentation become one space: half the bytes of a 1,000-host page.
const compacted = new WeakMap();
function compact(strings) {
  let c = compacted.get(strings);
  if (!c) {
    c = strings.map((s) => s.replace(/\n\s*/g, ' '));
    compacted.set(strings, c);
  }
  return c;
}

/** html`<p>${name}</p>`: values escaped, nested html`` and arrays of them kept as markup. */
export function html(strings, ...values) {
  const parts = compact(strings);
  let out = parts[0];
  for (let i = 0; i < values.length; i += 1) out += piece(values[i]) + parts[i + 1];
  return new Markup(out);
}

/** Replaces an element's content only when it differs, so focus, selection and open <details> survive a poll that changed nothing there. */
const rendered = new WeakMap();
export function patch(element, markup) {
  const text = String(markup);
  if (rendered.get(element) === text) return false;
  element.innerHTML = text;
  rendered.set(element, text);
  return true;
}

/** Each device status with the short text its cell shows (cells never rely on colour alone). */
export const STATUSES = [
  { status: 'available', abbr: 'AV' },
  { status: 'claimed', abbr: 'CL' },
  { status: 'allocated', abbr: 'AL' },
  { status: 'unavailable', abbr: 'UN' },
  { status: 'missing', abbr: 'MI' },
  { status: 'removed', abbr: 'RM' },
];
const ABBR = Object.fromEntries(STATUSES.map((s) => [s.status, s.abbr]));

/** A status badge: the abbreviation shown, the full word for screen readers and as a tooltip. */
export function statusBadge(status) {
  return html`<span class="badge st-${status}" title="${status}"><span aria-hidden="true">${ABBR[status] ?? status}</span><span class="sr-only">${status}</span></span>`;
}

/** A fleet cell's status: the abbreviation shown, the full word for screen readers (the cell carries the colour). */
export function cellBadge(status) {
  return `<b class="abbr" aria-hidden="true">${escape(ABBR[status] ?? status)}</b><span class="sr-only">${escape(status)}</span>`;
}

/** "0000:06:00.2" → "06:00.2": the part that differs between a host's devices. */
export function shortAddress(address) {
  return address.startsWith('0000:') ? address.slice(5) : address;
}

export function hostLink(host) {
  return html`<a href="#/host/${encodeURIComponent(host)}">${host}</a>`;
}

export function serverLink(id, name) {
  return html`<a href="#/server/${encodeURIComponent(id)}">${name || id}</a>`;
}

export function time(iso) {
  if (!iso) return '';
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')}</time>`;
}

/** "1 port", "3 ports". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
