#!/usr/bin/env bash
# Unpacks Debian trixie's nats-server 2.10 into .data/nats-2.10/ without touching the system's apt configuration,
# so the suite can run against both the bookworm server (2.9.10) and a 2.10 one:
#   bash scripts/fetch-nats-server-2.10.sh && NATS_SERVER_BIN=$PWD/.data/nats-2.10/usr/sbin/nats-server npm test
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb http://deb.debian.org/debian trixie main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" download nats-server 2>/dev/null)
rm -rf .data/nats-2.10 && mkdir -p .data/nats-2.10
dpkg-deb -x "$work"/nats-server_*.deb .data/nats-2.10
.data/nats-2.10/usr/sbin/nats-server --version
