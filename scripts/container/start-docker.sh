#!/usr/bin/env bash
# Start Debian's dockerd (root only) unless a daemon already answers, and wait until `docker info` does.
#
# No bridge network: the sandbox forbids traffic to private addresses (the default bridge is 172.17.0.0/16), so
# the daemon runs with --bridge=none and touches neither iptables nor IP forwarding; every build and container
# here uses --network host (loopback only). Exit 0: a daemon answers. Exit 2: none can run here; the one line on
# stderr says why (test/container.test.ts skips with it).
set -euo pipefail
# shellcheck source=scripts/container/lib.sh
. "$(dirname "$0")/lib.sh"

if [ ! -x "$DOCKER" ]; then echo "no Docker client at $DOCKER (Debian's docker.io is not installed)" >&2; exit 2; fi
if "$DOCKER" info >/dev/null 2>&1; then exit 0; fi
if [ ! -x /usr/sbin/dockerd ]; then echo "no Docker daemon: /usr/sbin/dockerd is absent (Debian's docker.io)" >&2; exit 2; fi
if [ "$(id -u)" != 0 ]; then echo "the Docker daemon is not running and only root can start it" >&2; exit 2; fi

mkdir -p "$CACHE_DIR"
log="$CACHE_DIR/dockerd.log"
setsid /usr/sbin/dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false >"$log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 120); do
  if "$DOCKER" info >/dev/null 2>&1; then echo "dockerd started (pid $pid, log $log)" >&2; exit 0; fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.5
done
echo "the Docker daemon did not start: $(grep -m1 -iE 'level=(fatal|error)' "$log" || tail -n1 "$log")" >&2
kill "$pid" 2>/dev/null || true
exit 2
