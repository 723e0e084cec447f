import type pg from 'pg';
import type { CompiledQuery } from 'kysely';
import { DEFERRED_WRITE, READ_LATER, TOGETHER, type DeferredWrite, type LaterRead, type UnlessOneRow } from './pipelining.js';
import { runPipeline, PipelineError, type PipelinedStatement } from './pgPipeline.js';
import { profiledPipeline, profiledQuery, type SqlFigures } from './sqlProfile.js';

/** What Kysely reads of a pg result. */
type PgResult = Pick<pg.QueryResult, 'command' | 'rowCount' | 'rows'>;

const done = (command: string): Promise<PgResult> => Promise.resolve({ command, rowCount: 0, rows: [] });

/** Not SQL: the connection's own request to send what is pending (sendIdleReadsSoon). */
const SEND_PENDING = '/* vdpa: send pending */';

interface Pending {
  statement: PipelinedStatement;
  unlessOneRow?: UnlessOneRow;
  /** A read sent later (readLater): who gets its result. */
  read?: LaterRead;
}

/** A pg result as Kysely shapes one. */
function asKyselyResult(r: PgResult): { rows: unknown[]; numAffectedRows: bigint | undefined } {
  return {
    rows: r.rows,
    numAffectedRows: ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(r.command) ? BigInt(r.rowCount ?? 0) : undefined,
  };
}

/** division_by_zero: what oneRowOrError raises when the write did not change exactly one row. */
const NOT_ONE_ROW = '22012';

/**
 * The write, made to fail inside PostgreSQL unless it changed exactly one
 * row, so that nothing after it in the pipeline (a commit) runs. Its
 * parameters are the write's own: the text around it has none.
 */
function oneRowOrError(writeSql: string): string {
  if (/\breturning\b/i.test(writeSql)) throw new Error(`a write checked for one row must not return rows itself: ${writeSql}`);
  return `with w as (${writeSql} returning 1) select 1 / (count(*) = 1)::int as one_row from w`;
}

/**
 * One pooled PostgreSQL connection as Kysely sees it, sending fewer round
 * trips than it is asked for:
 *
 * - `begin` is not sent on its own: it goes out with the transaction's first
 *   statement (a transaction that runs nothing sends nothing).
 * - deferred writes (pipelining.ts) wait and go out with the next
 *   statement or with `commit`. One that must change exactly one row is sent
 *   so that PostgreSQL fails it otherwise, which stops the rest, commit
 *   included; the error is then the caller's own.
 *
 * Everything still runs in the order it was asked for, on this connection,
 * inside the same transaction; a failed write or check fails the statement it
 * went out with and every later one, and the transaction cannot commit.
 */
export class PgConnection {
  private inTransaction = false;
  private beginPending = false;
  private pending: Pending[] = [];
  /** A deferred write failed (or its check did): this transaction can only roll back. */
  private failure: unknown = null;
  /** Round trips of this connection under way. */
  private active = 0;
  private idleCheckQueued = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly nameFor: (text: string) => string | null,
    private readonly profile: SqlFigures | null,
  ) {}

  query(textOrCursor: unknown, values?: ReadonlyArray<unknown>): Promise<PgResult> {
    if (typeof textOrCursor !== 'string') return this.client.query(textOrCursor as pg.Submittable) as unknown as Promise<PgResult>;
    this.active += 1;
    const answer = this.dispatch(textOrCursor, values);
    // Whatever this answer lets the caller do next, a read left waiting once it has done it goes out (sendIdleReads).
    answer.then(this.settled, this.settled);
    return answer;
  }

  private readonly settled = (): void => {
    this.active -= 1;
    this.sendIdleReadsSoon();
  };

  /**
   * A read sent later (readLater) rides with the transaction's next round
   * trip; when the caller waits for that read before asking for anything
   * else (a step with nothing else to send: a claim without PCI devices whose
   * writes are all deferred), there is no next round trip and the
   * transaction would hang idle. Once the caller's continuation has run
   * (setImmediate: after its microtasks) with nothing sent and nothing under
   * way, the pending reads go out on their own, with the writes before them.
   */
  private sendIdleReadsSoon(): void {
    if (this.idleCheckQueued || !this.pending.some((p) => p.read)) return;
    this.idleCheckQueued = true;
    setImmediate(() => {
      this.idleCheckQueued = false;
      if (this.active > 0 || this.failure !== null || !this.pending.some((p) => p.read)) return;
      // A failure here already failed the reads and is this transaction's failure (flushWith); its next statement or commit throws it.
      this.query(SEND_PENDING).catch(() => undefined);
    });
  }

  private dispatch(textOrCursor: string, values: ReadonlyArray<unknown> | undefined): Promise<PgResult> {
    switch (textOrCursor) {
      case SEND_PENDING: return this.sendPending();
      case 'begin': return this.begin();
      case 'commit': return this.commit();
      case 'rollback': return this.rollback();
      case DEFERRED_WRITE: return this.defer(values![0] as DeferredWrite);
      case TOGETHER: return this.together(values![0] as CompiledQuery[]);
      case READ_LATER: return this.readLater(values![0] as LaterRead);
      default: return this.statement(textOrCursor, values ?? []);
    }
  }

  release(destroy?: boolean): void {
    this.reset();
    this.client.release(destroy);
  }

  private begin(): Promise<PgResult> {
    this.reset();
    this.inTransaction = true;
    this.beginPending = true;
    return done('BEGIN');
  }

  private async commit(): Promise<PgResult> {
    if (this.failure !== null) throw this.failure;
    if (this.beginPending && this.pending.length === 0) {
      this.reset();
      return done('COMMIT');
    }
    const [result] = await this.flushWith([this.prepared('commit')]);
    this.reset();
    return result!;
  }

  private async rollback(): Promise<PgResult> {
    const sent = !this.beginPending;
    this.reset();
    return sent ? this.single('rollback', []) : done('ROLLBACK');
  }

  private defer(write: DeferredWrite): Promise<PgResult> {
    const values = [...write.query.parameters];
    if (!this.inTransaction) {
      return this.single(write.query.sql, values).then((r) => {
        if (write.unlessOneRow && r.rowCount !== 1) throw write.unlessOneRow();
        return r;
      });
    }
    if (this.failure !== null) return Promise.reject(this.failure);
    const text = write.unlessOneRow ? oneRowOrError(write.query.sql) : write.query.sql;
    this.pending.push({ statement: this.prepared(text, values), unlessOneRow: write.unlessOneRow });
    return done('DEFERRED');
  }

  private async statement(text: string, values: ReadonlyArray<unknown>): Promise<PgResult> {
    if (this.failure !== null) throw this.failure;
    if (!this.beginPending && this.pending.length === 0) return this.single(text, values);
    return (await this.flushWith([this.prepared(text, values)]))[0]!;
  }

  /** Statements sent in one round trip; Kysely gets their results (as it shapes one) as the rows. */
  private async together(queries: CompiledQuery[]): Promise<PgResult> {
    if (this.failure !== null) throw this.failure;
    const results = await this.flushWith(queries.map((q) => this.prepared(q.sql, [...q.parameters])));
    return { command: 'TOGETHER', rowCount: 0, rows: results.map(asKyselyResult) };
  }

  private readLater(read: LaterRead): Promise<PgResult> {
    const statement = this.prepared(read.query.sql, [...read.query.parameters]);
    if (!this.inTransaction) {
      this.single(statement.text, statement.values).then((r) => read.answer(asKyselyResult(r) as never), read.fail);
    } else if (this.failure !== null) {
      read.fail(this.failure);
    } else {
      this.pending.push({ statement, read });
    }
    return done('READ LATER');
  }

  /** The pending begin, writes and reads, sent now on their own (sendIdleReadsSoon). */
  private async sendPending(): Promise<PgResult> {
    if (this.failure !== null) throw this.failure;
    if (this.pending.length > 0) await this.flushWith([]);
    return done('SENT');
  }

  /** Sends the pending begin and writes, then `lasts`, as one pipeline; returns the results of `lasts`. */
  private async flushWith(lasts: PipelinedStatement[]): Promise<PgResult[]> {
    const statements: PipelinedStatement[] = [];
    if (this.beginPending) statements.push(this.prepared('begin'));
    const writesFrom = statements.length;
    const writes = this.pending;
    statements.push(...writes.map((p) => p.statement));
    statements.push(...lasts);
    this.beginPending = false;
    this.pending = [];

    let results: pg.QueryResult[];
    try {
      const run = () => runPipeline(this.client, statements);
      results = await (this.profile ? profiledPipeline(statements.map((s) => s.text), this.profile, run) : run());
    } catch (error) {
      const failed = error instanceof PipelineError && error.index >= writesFrom ? writes[error.index - writesFrom] : undefined;
      const cause = error instanceof PipelineError ? error.cause : error;
      const notOneRow = failed?.unlessOneRow && (cause as { code?: string }).code === NOT_ONE_ROW;
      if (failed) this.failure = notOneRow ? failed.unlessOneRow!() : cause;
      const reported = failed ? this.failure : cause;
      for (const p of writes) p.read?.fail(reported);
      throw reported;
    }
    writes.forEach((p, i) => p.read?.answer(asKyselyResult(results[writesFrom + i]!) as never));
    return results.slice(results.length - lasts.length);
  }

  private single(text: string, values: ReadonlyArray<unknown>): Promise<PgResult> {
    const name = this.nameFor(text);
    const run = () => (name
      ? this.client.query({ name, text, values: values as unknown[] })
      : this.client.query(text, values as unknown[]));
    return this.profile ? profiledQuery(text, this.profile, run) : run();
  }

  private prepared(text: string, values: ReadonlyArray<unknown> = []): PipelinedStatement {
    return { text, values: values as unknown[], name: this.nameFor(text) };
  }

  private reset(): void {
    const unsent = this.pending;
    this.inTransaction = false;
    this.beginPending = false;
    this.pending = [];
    this.failure = null;
    for (const p of unsent) p.read?.fail(new Error('the transaction ended before this read was sent'));
  }
}
