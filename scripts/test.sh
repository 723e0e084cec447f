#!/usr/bin/env bash
# The one test command (`npm test`): provides what the tests need, builds, and
# runs every test with Node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-test-deps.sh
if [ ! -d node_modules ]; then echo "[test] installing npm dependencies (npm ci)"; npm ci; fi
echo "[test] building (tsc) into a fresh dist/"
rm -rf dist
npx tsc -p tsconfig.json
bash scripts/ensure-libvirtd.sh
echo "[test] checking layer boundaries (dependency-cruiser)"
npx depcruise --config .dependency-cruiser.cjs src
echo "[test] running tests"
mapfile -t files < <(bash scripts/test-files.sh)
# Every test carries its own { timeout } (test/suite/testSuite.test.ts checks),
# so a hung test fails with its name; VDPA_TEST_FILE_TIMEOUT_MS limits each
# file as a whole, a backstop for a hung hook. run-tests.mjs runs the files
# two at a time (VDPA_TEST_CONCURRENCY), longest first (scripts/test-order.mjs),
# each with --test-force-exit (a file whose tests are done but whose handles
# are still open ends), and reports with the spec reporter.
node scripts/run-tests.mjs "${files[@]}"
