export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function fromJson<T>(text: string | null | undefined, fallback: T): T {
  if (text == null || text === '') return fallback;
  return JSON.parse(text) as T;
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** The moment `ms` from now, as stored (a lease's expiry). */
export function isoAfter(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}
