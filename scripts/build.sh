#!/usr/bin/env bash
# Writes the static site to dist/: open it through any static file server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ -f www/data/mnist.bin.gz ] || node scripts/mnist.mjs
trunk build --release --offline
wasm=$(ls dist/*_bg.wasm)
if command -v wasm-opt >/dev/null && [ "${WASM_OPT:-1}" = 1 ]; then
  # Size pass when binaryen is installed; the page works without it.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue "$wasm" -o "$wasm.opt" && mv "$wasm.opt" "$wasm" \
    || echo "wasm-opt failed; keeping the unoptimised wasm"
fi
raw=$(stat -c %s "$wasm"); gz=$(gzip -9 -c "$wasm" | wc -c)
echo "dist/ written: $(basename "$wasm") $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
