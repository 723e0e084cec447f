#!/usr/bin/env bash
# Prints the compiled test files `npm test` hands to Node's runner, one a line.
# Only *.test.js: given a directory, Node 20 runs every .js file under it and
# counts helper modules as passing tests. VDPA_TEST_FILES narrows the run to
# some files or directories (space-separated).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a roots <<<"${VDPA_TEST_FILES:-dist/test}"
find "${roots[@]}" -name '*.test.js' | sort
