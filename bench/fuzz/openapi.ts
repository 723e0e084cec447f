/** The operations /openapi.json describes, in the shape the fuzzer needs. */
import type { JsonSchema } from './arbitraries.js';

export interface Operation {
  method: string;
  /** The path template, e.g. /compute/v2.1/servers/{id}. */
  template: string;
  pathParams: string[];
  query: { name: string; schema?: JsonSchema }[];
  body?: JsonSchema;
}

/** Paths not worth a request: they describe the fuzzer's own input or serve static files. */
const SKIPPED = new Set(['/openapi.json']);

export function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [template, item] of Object.entries<Record<string, any>>(doc.paths ?? {})) {
    if (SKIPPED.has(template)) continue;
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'put', 'post', 'patch', 'delete', 'head'].includes(method)) continue;
      const params: any[] = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      ops.push({
        method: method.toUpperCase(),
        template,
        pathParams: [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!),
        query: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema })),
        body: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return ops;
}
