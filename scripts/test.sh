#!/usr/bin/env bash
# The whole test suite: contract checks, type check, then every test file against real nats-servers
# (each test file starts its own) and real HTTP receivers, on each supported runtime.
#
# Runtimes: Node 24 (the supported one; scripts/node24.sh fetches it once when the machine has none) and the
# machine's Node 20 while the test machines have it. The checks that do not depend on the runtime (Biome, buf,
# tsc, dependency rules) and the benchmark smoke run once; the test files run on each. The two runtimes' test
# runs go side by side, so the time one spends waiting on servers and timers the other uses; the suite is mostly
# CPU (about 20 CPU-minutes per runtime), so both together still take close to twice one (README, "Tests").
#
#   npm test                    Node 24, plus the node on PATH when that is another major (Node 20 here)
#   npm test -- --node 24       one runtime (also ER_TEST_NODE=24); --node 20,24 for both explicitly
#   npm test -- test/x.test.ts  every check, but only the named test files
# A runtime other than 24 is the node on PATH, else NODE<major>_BIN (a bin directory), else /usr/bin/node.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

want="${ER_TEST_NODE:-}"
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --node) want="${2:?--node needs a major version, e.g. --node 24 or --node 20,24}"; shift 2 ;;
    --node=*) want="${1#--node=}"; shift ;;
    -*) echo "scripts/test.sh: unknown option '$1' (usage: npm test [-- --node 24|20|20,24] [test files])" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#files[@]} -gt 0 ] || files=(test/*.test.ts)

major_of() { "$1/node" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }
path_bin=$(dirname "$(command -v node)")
# The bin directory of a Node of the given major, or a message on stderr and status 1.
runtime_bin() {
  if [ "$1" = 24 ]; then
    bash scripts/node24.sh
    return
  fi
  local var="NODE$1_BIN" cand
  for cand in "${!var:-}" "$path_bin" /usr/bin; do
    if [ -n "$cand" ] && [ "$(major_of "$cand")" = "$1" ]; then
      echo "$cand"
      return
    fi
  done
  echo "scripts/test.sh: no Node $1: not the node on PATH, not \$$var, not /usr/bin/node" >&2
  return 1
}
if [ -z "$want" ]; then
  want=24
  path_major=$(major_of "$path_bin")
  [ "$path_major" != 24 ] && want="$path_major,24"
fi
# Every prerequisite at once, with one clear message when one is missing (scripts/preflight.sh).
ERB_FIXTURES_DIR=$(bash scripts/preflight.sh)
export ERB_FIXTURES_DIR

labels=()
bins=()
for major in ${want//,/ }; do
  bin=$(runtime_bin "$major")
  labels+=("node$major")
  bins+=("$bin")
done
echo "== runtimes"
for i in "${!labels[@]}"; do echo "${labels[$i]}: $("${bins[$i]}/node" --version) (${bins[$i]}/node)"; done

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
# Once, on Node 24 when it is one of the runtimes (the bench code is the same on both; the test files below cover
# each runtime): CI's 20 minutes hold the suite twice only just. `npm run bench` measures either runtime.
smoke=$((${#labels[@]} - 1))
echo "== benchmark smoke (${labels[$smoke]})"
BENCH_SMOKE=1 PATH="${bins[$smoke]}:$PATH" node --import tsx bench/run.ts

# The test files, each runtime's run in parallel with the other's; output lines carry the runtime's name when
# there are two. Each run's full output is kept for the summary at the end.
logs=$(mktemp -d "${TMPDIR:-/tmp}/er-test-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT
echo "== tests (${labels[*]})"
started=$(date +%s)
pids=()
# Interrupted: stop both runs, each its own process group (set -m), and nothing else of whoever started us (the
# harness kills each test file's servers when that file's process ends).
trap 'trap - INT TERM; for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done; exit 130' INT TERM
set -m
for i in "${!labels[@]}"; do
  label="${labels[$i]}"
  prefix=""
  [ ${#labels[@]} -gt 1 ] && prefix="[$label] "
  (
    set +e
    # The container test builds and runs the image, whose Node is its own: once is enough, in the Node 24 lane.
    if [ ${#labels[@]} -gt 1 ] && [ "$label" != node24 ]; then export ERB_CONTAINER_TEST=0; fi
    PATH="${bins[$i]}:$PATH" node --import tsx --test --test-reporter=spec --test-concurrency=2 "${files[@]}" 2>&1 |
      tee "$logs/$label.log" | sed -u "s|^|$prefix|"
    echo "${PIPESTATUS[0]} $(($(date +%s) - started))" >"$logs/$label.rc"
  ) &
  pids+=($!)
done
set +m
for pid in "${pids[@]}"; do wait "$pid" || true; done

# One line per runtime from node:test's closing counts (spec reporter: "ℹ pass 812"), and the verdict.
echo "== summary"
failed=0
for i in "${!labels[@]}"; do
  label="${labels[$i]}"
  read -r rc secs <"$logs/$label.rc" || { rc=1 secs=?; }
  count() { sed -n "s/^ℹ $1 \([0-9]*\)$/\1/p" "$logs/$label.log" | tail -1; }
  verdict=ok
  [ "$rc" = 0 ] || { verdict="FAILED (exit $rc)"; failed=1; }
  printf '%s %s: tests %s, pass %s, fail %s, cancelled %s, skipped %s, todo %s; %dm%02ds; %s\n' \
    "$label" "$("${bins[$i]}/node" --version)" "$(count tests)" "$(count pass)" "$(count fail)" "$(count cancelled)" \
    "$(count skipped)" "$(count todo)" $((${secs/\?/0} / 60)) $((${secs/\?/0} % 60)) "$verdict"
done
exit $failed
