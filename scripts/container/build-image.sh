#!/usr/bin/env bash
# Build the repository's image from deploy/Dockerfile on the local base image (make-base-image.sh), offline but for
# the npm registry. Usage: scripts/container/build-image.sh [TAG] (default event-routing:local).
#
# --network host: the daemon here has no bridge network (start-docker.sh), and the builds' npm ci reaches the
# registry as the host does. Behind a TLS-intercepting proxy the host trusts its CA through NODE_EXTRA_CA_CERTS:
# that file goes to the build as the secret `npm-ca`, never into a layer (the Dockerfile's header).
set -euo pipefail
# shellcheck source=scripts/container/lib.sh
. "$(dirname "$0")/lib.sh"
tag="${1:-event-routing:local}"
cd "$(dirname "$0")/../.."

base=$(scripts/container/make-base-image.sh)
args=(--network host --build-arg "NODE_IMAGE=$base" -f deploy/Dockerfile -t "$tag")
ca="${NODE_EXTRA_CA_CERTS:-}"
if [ -n "$ca" ] && [ -r "$ca" ]; then args+=(--secret "id=npm-ca,src=$ca"); fi
"$DOCKER" build --progress=plain "${args[@]}" . >&2
echo "$tag"
