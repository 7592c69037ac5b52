#!/usr/bin/env bash
# Before the suite: every prerequisite the tests use, checked the way the tests find it, reported together in
# one message (instead of ENOENT stacks from the first test that needs the missing piece). On success it prints
# the ERB fixtures directory, which scripts/test.sh exports as ERB_FIXTURES_DIR.
# The checks follow the harness: nats-server ($NATS_SERVER_BIN, else PATH, /usr/sbin, /usr/local/bin),
# redis-server ($REDIS_SERVER_BIN, else /usr/bin/redis-server), /usr/bin/python3 with grpc, redis and avro
# (the Python clients), openssl on PATH (the TLS tests' certificates), chromium ($CHROMIUM_BIN, else
# /usr/bin/chromium: the console's browser tests), ERB's fixtures (scripts/fixtures.ts) and
# the Caliper reference schemas ($CALIPER_REFERENCE_DIR, else ../shared/reference/caliper).
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()
executable() { [ -n "$1" ] && { [ -x "$1" ] || command -v "$1" >/dev/null 2>&1; }; }

nats_bin="${NATS_SERVER_BIN:-}"
if [ -n "$nats_bin" ]; then
  executable "$nats_bin" || missing+=("nats-server: NATS_SERVER_BIN=$nats_bin is not an executable")
elif ! { executable nats-server || [ -x /usr/sbin/nats-server ] || [ -x /usr/local/bin/nats-server ]; }; then
  missing+=("nats-server: not on PATH, /usr/sbin or /usr/local/bin (Debian: apt-get install -y nats-server)")
fi

redis_bin="${REDIS_SERVER_BIN:-/usr/bin/redis-server}"
executable "$redis_bin" || missing+=("redis-server: $redis_bin is not an executable (Debian: apt-get install -y redis-server)")

if [ ! -x /usr/bin/python3 ]; then
  missing+=("python3: /usr/bin/python3 not found (Debian: apt-get install -y python3 python3-grpcio python3-protobuf python3-redis python3-avro)")
else
  for mod in grpc:python3-grpcio google.protobuf:python3-protobuf redis:python3-redis avro.io:python3-avro; do
    /usr/bin/python3 -c "import ${mod%%:*}" >/dev/null 2>&1 || missing+=("python3 module ${mod%%:*}: not importable (Debian: apt-get install -y ${mod#*:})")
  done
fi

command -v openssl >/dev/null 2>&1 || missing+=("openssl: not on PATH (Debian: apt-get install -y openssl)")

chromium_bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
[ -x "$chromium_bin" ] || missing+=("chromium: $chromium_bin is not an executable (Debian: apt-get install -y chromium; or set CHROMIUM_BIN)")

[ -x node_modules/.bin/tsx ] || missing+=("node_modules: not installed (run npm ci)")

fixtures_dir=""
if [ -x node_modules/.bin/tsx ]; then
  if ! fixtures_dir=$(node --import tsx scripts/fixtures.ts --check 2>/tmp/er-preflight-fixtures.$$); then
    missing+=("ERB fixtures: $(sed 's/^fixtures: //; 2,$s/^/    /' /tmp/er-preflight-fixtures.$$)")
  fi
  rm -f /tmp/er-preflight-fixtures.$$
fi

caliper_dir="${CALIPER_REFERENCE_DIR:-../shared/reference/caliper}"
[ -d "$caliper_dir/schema_1_2" ] && [ -f "$caliper_dir/caliper-v1p2.jsonld" ] ||
  missing+=("Caliper reference: $caliper_dir has no schema_1_2/ and caliper-v1p2.jsonld (1EdTech caliper-spec; set CALIPER_REFERENCE_DIR)")

if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "The test suite cannot run: ${#missing[@]} prerequisite(s) missing."
    for m in "${missing[@]}"; do echo "  - $m"; done
    echo "On a fresh Debian machine, .ci/run installs the packages; README.md (Tests) lists every prerequisite."
  } >&2
  exit 1
fi
echo "$fixtures_dir"
