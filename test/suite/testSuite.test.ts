/**
 * The suite itself: the runner gets only test files, in an order that keeps
 * its slots busy, every test carries a time limit, and a test that hangs
 * fails under its own name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../../..');

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(suffix))
    .map((e) => join(e.parentPath, e.name));
}

/** Each test()/it() call in a file that has no `timeout` among its options, as "file:line name". */
function testsWithoutTimeLimit(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const missing: string[] = [];
  const hasTimeout = (o: ts.ObjectLiteralExpression) => o.properties.some((p) => p.name?.getText(source) === 'timeout');
  // `const LIMIT = { timeout: … }` at the top of a file, passed as a test's options.
  const limits = new Set<string>();
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const d of statement.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.initializer && ts.isObjectLiteralExpression(d.initializer) && hasTimeout(d.initializer)) limits.add(d.name.text);
    }
  }
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && ['test', 'it'].includes(node.expression.text)) {
      const args = node.arguments.slice(1, -1);
      const limited = args.some((a) => (ts.isObjectLiteralExpression(a) && hasTimeout(a)) || (ts.isIdentifier(a) && limits.has(a.text)));
      if (!limited) {
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        missing.push(`${relative(ROOT, file)}:${line} ${node.arguments[0]?.getText(source) ?? ''}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return missing;
}

/**
 * Each assertion in a file that only runs on one branch (inside an `if` or
 * `else`, a `?:`, or the right of `&&`, `||`, `??`), as "file:line call":
 * such a test passes without checking anything when the branch is not taken.
 * Assertions are calls of `assert` / `assert.*`.
 */
function conditionalAssertions(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const isAssertion = (n: ts.Node) => ts.isCallExpression(n) && /^assert(\.|$)/.test(n.expression.getText(source));
  const branching = [ts.SyntaxKind.AmpersandAmpersandToken, ts.SyntaxKind.BarBarToken, ts.SyntaxKind.QuestionQuestionToken];
  const visit = (node: ts.Node, conditional: boolean): void => {
    if (conditional && isAssertion(node)) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      found.push(`${relative(ROOT, file)}:${line} ${node.getText(source).split('\n')[0]!.slice(0, 80)}`);
    }
    if (ts.isIfStatement(node)) {
      visit(node.expression, conditional);
      visit(node.thenStatement, true);
      if (node.elseStatement) visit(node.elseStatement, true);
    } else if (ts.isConditionalExpression(node)) {
      visit(node.condition, conditional);
      visit(node.whenTrue, true);
      visit(node.whenFalse, true);
    } else if (ts.isBinaryExpression(node) && branching.includes(node.operatorToken.kind)) {
      visit(node.left, conditional);
      visit(node.right, true);
    } else {
      ts.forEachChild(node, (child) => visit(child, conditional));
    }
  };
  visit(source, false);
  return found;
}

test('npm test hands the runner only *.test.js files: every compiled test file and no helper module', { timeout: 30_000 }, () => {
  const listed = execFileSync('bash', [join(ROOT, 'scripts/test-files.sh')], { encoding: 'utf8', env: { ...process.env, VDPA_TEST_FILES: '' } })
    .trim().split('\n');
  assert.ok(listed.every((f) => f.endsWith('.test.js')), listed.filter((f) => !f.endsWith('.test.js')).join(', '));
  const sources = filesUnder(join(ROOT, 'test'), '.test.ts').map((f) => relative(ROOT, f).replace(/\.ts$/, '.js'));
  assert.deepEqual(listed.map((f) => f.replace(/^dist\//, '')).sort(), sources.sort());
  assert.ok(!listed.some((f) => f.endsWith('helpers/allInOneProcess.js')));
});

test('VDPA_TEST_FILES narrows the run to the test files under the given paths', { timeout: 30_000 }, () => {
  const listed = execFileSync('bash', [join(ROOT, 'scripts/test-files.sh')], {
    encoding: 'utf8', env: { ...process.env, VDPA_TEST_FILES: 'dist/test/suite dist/test/domain/smoke.test.js' },
  }).trim().split('\n');
  assert.deepEqual(listed, ['dist/test/domain/smoke.test.js', 'dist/test/suite/testSuite.test.js']);
});

/** scripts/test-order.mjs (plain JavaScript the runner script imports, outside the TypeScript build). */
interface TestOrder {
  orderTestFiles(files: string[], durations: Map<string, number>, slots: number, locked?: (file: string) => boolean): string[];
}
const testOrder = () => import(pathToFileURL(join(ROOT, 'scripts/test-order.mjs')).href) as Promise<TestOrder>;

test('npm test starts the longest files first', { timeout: 30_000 }, async () => {
  const { orderTestFiles } = await testOrder();
  const durations = new Map([['a', 1], ['b', 50], ['c', 20], ['d', 35]]);
  assert.deepEqual(orderTestFiles(['a', 'b', 'c', 'd', 'new'], durations, 2, () => false), ['b', 'd', 'c', 'new', 'a']);
});

test('npm test does not start a file that waits for qemu:///system while another holds it, when another file can run', { timeout: 30_000 }, async () => {
  const { orderTestFiles } = await testOrder();
  const durations = new Map([['lv-1', 60], ['lv-2', 50], ['x', 40], ['y', 30], ['z', 5]]);
  // Slot 1: lv-1 (0-60), lv-2 (60-110). Slot 2: x (0-40), y (40-70), z (70-75).
  assert.deepEqual(orderTestFiles(['x', 'y', 'z', 'lv-1', 'lv-2'], durations, 2, (f) => f.startsWith('lv-')), ['lv-1', 'x', 'y', 'lv-2', 'z']);
  // The lock is found in the compiled files themselves (lockSystemLibvirt).
  const [guests, moves, smoke] = ['e2e/libvirtGuests', 'e2e/libvirtGuestMoves', 'domain/smoke'].map((f) => `dist/test/${f}.test.js`);
  const real = new Map([[guests!, 60], [moves!, 50], [smoke!, 1]]);
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    assert.deepEqual(orderTestFiles([guests!, moves!, smoke!], real, 2), [guests, smoke, moves]);
  } finally {
    process.chdir(cwd);
  }
});

test('every test and it in test/ carries its own time limit', { timeout: 60_000 }, () => {
  const missing = filesUnder(join(ROOT, 'test'), '.test.ts').flatMap(testsWithoutTimeLimit);
  assert.deepEqual(missing, []);
});

test('no assertion in test/ (tests and helpers) sits behind an if, a ?: or a && / || / ??', { timeout: 60_000 }, () => {
  const found = filesUnder(join(ROOT, 'test'), '.ts').flatMap(conditionalAssertions);
  assert.deepEqual(found, []);
});

test('the conditional-assertion check finds one where it is', { timeout: 30_000 }, () => {
  const found = conditionalAssertions(join(ROOT, 'test/fixtures/suite/conditionalAssert.txt'));
  assert.deepEqual(found.map((f) => f.replace(/^[^:]*:/, '')), [
    '6 assert.equal(status, 200)',
    '8 assert.ok(status)',
    '10 assert.equal(status, 404)',
    '11 assert.ok(true)',
  ]);
});

test('a hung test fails under its own name when its limit passes', { timeout: 30_000 }, () => {
  // --test-force-exit as npm test runs every file: the file ends once its tests are done, the hung one included.
  const r = spawnSync(process.execPath, ['--test', '--test-force-exit', '--test-reporter=spec', join(ROOT, 'test/fixtures/suite/hung.mjs')], {
    // Without the parent's NODE_TEST_CONTEXT, or the child thinks it is nested and runs nothing.
    encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE_TEST_CONTEXT: undefined },
  });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /✖ a test that never finishes[^\n]*\n\s*'test timed out after 500ms'/);
});
