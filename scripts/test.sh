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
node --test --test-concurrency=2 --test-reporter=spec ${VDPA_TEST_FILES:-dist/test/}
