#!/usr/bin/env bash
# Writes the static site to dist/: open it through any static file server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ -f www/data/mnist-test.bin.gz ] && [ -f www/data/mnist-train.bin.gz ] || node scripts/mnist.mjs
trunk build --release --offline
for wasm in dist/*_bg.wasm; do
  raw=$(stat -c %s "$wasm"); gz=$(gzip -9 -c "$wasm" | wc -c)
  echo "dist/ written: $(basename "$wasm") $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
done
