# Sourced by the other scripts. One target directory for every build (native tests, browser
# tests, the page), kept under ~/.cargo so a fresh clone on the same machine reuses it.
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cargo/genlab-target}"
