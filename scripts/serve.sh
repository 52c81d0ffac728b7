#!/usr/bin/env bash
# Sets everything up (idempotent), builds the page and serves it on http://127.0.0.1:8080
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
exec trunk serve --release --offline "$@"
