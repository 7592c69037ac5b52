#!/usr/bin/env bash
# The whole test suite: contract checks, type check, then every test file against real nats-servers
# (each test file starts its own) and real HTTP receivers.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# Every prerequisite at once, with one clear message when one is missing (scripts/preflight.sh).
ERB_FIXTURES_DIR=$(bash scripts/preflight.sh)
export ERB_FIXTURES_DIR

# Biome: lint and format check of everything but generated and vendored files (biome.json).
echo "== biome"
biome ci .

echo "== buf lint"
buf lint

echo "== regenerating gen/ leaves no diff"
buf generate
if [ -n "$(git status --porcelain -- gen)" ]; then
  git status --porcelain -- gen
  echo "gen/ is stale: run 'npm run generate' and commit the result" >&2
  exit 1
fi

echo "== tsc"
tsc --noEmit
tsc --noEmit -p console

# The layering of docs/architecture.md as rules (.dependency-cruiser.cjs); a failure names the rule and why it exists.
echo "== dependency rules"
npm run --silent deps

# The production build (`npm run build`: the console's assets and the esbuild bundle of the service and the CLI),
# once: test files running in parallel must not rebuild files another one is serving, and the tests start the
# service and the CLI from the bundle (test/support/entrypoints.ts), a third of tsx's start-up CPU. A test file
# run alone builds the console itself (test/support/console-build.ts) and starts src/ under tsx.
echo "== build"
npm run --silent build
export ER_CONSOLE_BUILT=1 ER_DIST_BUILT=1

# The test LRS (Learning Locker's xapi-statements, GPL, a test tool only) has its own lockfile.
if [ -f test/lrs/package-lock.json ] && [ ! -d test/lrs/node_modules ]; then
  echo "== installing the test LRS (xapi-statements from npm, about 380 packages; once)"
  npm ci --prefix test/lrs --ignore-scripts --no-audit --no-fund --loglevel=error
fi

# Every benchmark once for about a second (service, load generator and nats-server as in `npm run bench`), so
# none of them rots. It fails only when a benchmark did not run or printed no figure: timing is never asserted.
echo "== benchmark smoke"
BENCH_SMOKE=1 node --import tsx bench/run.ts

echo "== tests"
exec node --import tsx --test --test-reporter=spec --test-concurrency=2 test/*.test.ts
