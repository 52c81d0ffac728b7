#!/usr/bin/env bash
# Every test: the layout (cargo fmt --check), native (cargo test), in the browser (wasm-pack test: WebGPU and CPU), and
# end to end on the built page in headless Chromium. Sets up what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh

echo; echo "== layout (cargo fmt --check; rustfmt.toml)"
cargo fmt --check

echo; echo "== native tests"
cargo test --release

echo; echo "== browser tests (wasm-pack, headless Chromium, WebGPU + CPU)"
# SwiftShader, the software WebGPU of a GPU-less machine, compiles shaders slowly.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-3000}"
wasm-pack test --headless --chrome --chromedriver "$(command -v chromedriver)" --mode no-install --release . --features webgpu

echo; echo "== end-to-end tests of the built page"
scripts/build.sh
node --test --test-reporter=spec tests/e2e/
