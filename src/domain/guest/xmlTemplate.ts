/**
 * A document built once with placeholders, then filled in by string joins.
 * Building a domain with xmlbuilder2 costs ~100µs; filling a template costs a
 * few µs, which matters when an agent (or the simulator) spawns thousands of
 * guests per second.
 */
const OPEN = '\uE000';
const CLOSE = '\uE001';
const SLOT = /\uE000(\d+)\uE001/;

/** A placeholder that survives XML serialisation unchanged (private-use code points). */
export function slotToken(index: number): string {
  return `${OPEN}${index}${CLOSE}`;
}

export interface XmlTemplate {
  /** Literal text around the slots: parts.length === slots.length + 1. */
  readonly parts: readonly string[];
  readonly slots: readonly number[];
}

export function compileTemplate(document: string): XmlTemplate {
  const pieces = document.split(SLOT);
  const parts: string[] = [];
  const slots: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    if (i % 2 === 0) parts.push(pieces[i]!);
    else slots.push(Number(pieces[i]));
  }
  return { parts, slots };
}

/** Escaping valid in text and in double-quoted attributes alike. */
export function escapeXml(value: string): string {
  return /[&<>"]/.test(value)
    ? value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    : value;
}

export function renderTemplate(template: XmlTemplate, values: readonly string[]): string {
  let out = template.parts[0]!;
  for (let i = 0; i < template.slots.length; i++) {
    out += escapeXml(values[template.slots[i]!]!) + template.parts[i + 1]!;
  }
  return out;
}
