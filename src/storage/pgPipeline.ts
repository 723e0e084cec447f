import pg from 'pg';
// pg's own conversion of parameters (Dates, arrays, Buffers, objects), as its queries use.
import pgUtils from 'pg/lib/utils.js';

export interface PipelinedStatement {
  text: string;
  values: unknown[];
  /** Prepared statement name, when the statement is one worth keeping prepared. */
  name: string | null;
}

/** A statement of a pipeline failed; `index` says which (the ones after it did not run). */
export class PipelineError extends Error {
  constructor(readonly index: number, override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

type Callback = (error: PipelineError | null, results?: pg.QueryResult[]) => void;

interface PgConnection {
  parsedStatements: Record<string, string>;
  stream: { cork?(): void; uncork?(): void };
  parse(q: { text: string; name?: string; types?: unknown[] }): void;
  bind(c: { portal: string; statement: string; values: unknown[] }): void;
  describe(m: { type: 'P'; name: string }): void;
  execute(m: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * Several statements sent to PostgreSQL in one write and answered in one
 * read: Parse/Bind/Describe/Execute for each, one Sync at the end (the
 * extended protocol's pipelining). Each round trip costs the controller a
 * system call and a wake-up of the server process, which on a small machine
 * cost more than the statements; statements whose results are only looked
 * at afterwards need not each wait for the one before.
 *
 * It is a pg "Submittable": the client runs it like a query and feeds it the
 * server's messages. Statements run in order; after an error the server skips
 * the rest up to the Sync, so the error names the statement that failed.
 */
export class PgPipeline {
  private readonly results: pg.QueryResult[] = [];
  private current: InstanceType<typeof ResultClass>;
  private index = 0;
  /** Read by pg's client on ParseComplete: the statement (if named) whose parse is answered next. */
  name: string | undefined;
  text: string | undefined;
  private parsedByUs: Array<boolean> = [];
  private settled = false;

  constructor(private readonly statements: PipelinedStatement[], private readonly callback: Callback) {
    this.current = new ResultClass();
  }

  submit(connection: PgConnection): Error | null {
    // Every value is converted before anything is written: a value that cannot be sent fails the
    // pipeline here (pg then reports it) instead of leaving half a pipeline on the wire.
    let values: unknown[][];
    try {
      values = this.statements.map((s) => s.values.map(prepareValue));
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    const parsedHere = new Set<string>();
    connection.stream.cork?.();
    try {
      for (const [i, s] of this.statements.entries()) {
        const known = s.name !== null && (connection.parsedStatements[s.name] !== undefined || parsedHere.has(s.name));
        this.parsedByUs.push(!known && s.name !== null);
        if (!known) {
          connection.parse({ text: s.text, name: s.name ?? '' });
          if (s.name !== null) parsedHere.add(s.name);
        }
        connection.bind({ portal: '', statement: s.name ?? '', values: values[i]! });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    this.pointAt(0);
    return null;
  }

  private pointAt(i: number): void {
    this.index = i;
    const s = this.statements[i];
    const named = s !== undefined && this.parsedByUs[i] === true;
    this.name = named ? s.name! : undefined;
    this.text = named ? s.text : undefined;
  }

  private next(): void {
    this.results.push(this.current as unknown as pg.QueryResult);
    this.current = new ResultClass();
    this.pointAt(this.index + 1);
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    this.current.addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    this.current.addRow(this.current.parseRow(msg.fields));
  }

  handleCommandComplete(msg: unknown): void {
    this.current.addCommandComplete(msg);
    this.next();
  }

  handleEmptyQuery(): void {
    this.next();
  }

  handleError(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.callback(new PipelineError(this.index, error));
  }

  handleReadyForQuery(): void {
    if (this.settled) return;
    this.settled = true;
    this.callback(null, this.results);
  }

  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}

// pg's own Result parses rows with the registered type parsers (int8 as number, as set in db.ts).
const ResultClass = (pg as unknown as { Result: new () => {
  addFields(f: unknown[]): void; parseRow(f: unknown[]): unknown; addRow(r: unknown): void; addCommandComplete(m: unknown): void;
} }).Result;

const prepareValue = (value: unknown): unknown => pgUtils.prepareValue(value);

/** Runs statements as one pipeline on a client (outside or inside a transaction). */
export function runPipeline(client: pg.PoolClient, statements: PipelinedStatement[]): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    const p = new PgPipeline(statements, (error, results) => (error ? reject(error) : resolve(results!)));
    void client.query(p as unknown as pg.Submittable);
  });
}
