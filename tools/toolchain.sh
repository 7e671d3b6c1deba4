#!/usr/bin/env bash
# Makes sure the compiler rust-toolchain.toml pins is there before anything runs cargo.
#
# Where rustup reaches its servers it installs it (`rustup toolchain install`). This project's
# CI machines reach no toolchain server; they ship one toolchain as rustup's `stable`, and name it
# by its version too. Where that name is missing but `stable` is that very version, it is named
# here the same way (rustup refuses `toolchain link` for a version's name, so the name is made by
# hand as the machine makes it). Anything else is an error that says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
[ -n "$pinned" ] || { echo "rust-toolchain.toml names no channel" >&2; exit 1; }
if rustup toolchain list | grep -q "^$pinned-"; then
    exit 0
fi
stable=$(rustc +stable --version 2>/dev/null | awk '{print $2}') || true
if [ "$stable" = "$pinned" ]; then
    sysroot=$(rustc +stable --print sysroot)
    host=$(basename "$sysroot" | sed 's/^stable-//')
    ln -s "$sysroot" "$(dirname "$sysroot")/$pinned-$host"
    echo "Rust $pinned: rustup's stable is that version; named it $pinned" >&2
    exit 0
fi
if rustup toolchain install "$pinned" --profile minimal --component rustfmt,clippy; then
    exit 0
fi
echo "This project builds with Rust $pinned (rust-toolchain.toml); install it: rustup toolchain install $pinned" >&2
exit 1
