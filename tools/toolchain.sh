#!/usr/bin/env bash
# Makes sure the compiler rust-toolchain.toml pins is there before anything runs cargo (`make`
# runs this first for every target that does).
#
# Where rustup reaches its servers it installs it. This project's CI machines reach no toolchain
# server: they ship one toolchain as rustup's `stable` and name it by its version too. Where that
# name is missing but `stable` is that very version, it is named here the same way (rustup refuses
# `toolchain link` for a version's name, so the name is made as the machine makes it: a link to
# `stable`'s folder). A name that no longer gives its version (that `stable` was updated since) is
# an error that says what to do, never a silent other compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
[ -n "$pinned" ] || { echo "rust-toolchain.toml names no channel" >&2; exit 1; }
version_of() { "$@" --version 2>/dev/null | awk '{print $2}'; }

if ! command -v rustup >/dev/null; then
    have=$(version_of rustc)
    [ "$have" = "$pinned" ] && exit 0
    echo "This project builds with Rust $pinned (rust-toolchain.toml); rustc here is ${have:-missing}. Install rustup: https://rustup.rs" >&2
    exit 1
fi

toolchains=$(rustup toolchain list)
if grep -q "^$pinned-" <<<"$toolchains"; then
    have=$(version_of rustc +"$pinned")
    [ "$have" = "$pinned" ] && exit 0
    echo "The toolchain named $pinned is rustc ${have:-broken}: rustup toolchain uninstall $pinned, then make again" >&2
    exit 1
fi
if [ "$(version_of rustc +stable)" = "$pinned" ]; then
    sysroot=$(rustc +stable --print sysroot)
    host=$(basename "$sysroot" | sed 's/^stable-//')
    ln -s "$sysroot" "$(dirname "$sysroot")/$pinned-$host"
    echo "Rust $pinned: rustup's stable is that version; named it $pinned" >&2
    exit 0
fi
if rustup toolchain install "$pinned" --profile minimal --component rustfmt,clippy --target aarch64-unknown-linux-gnu; then
    exit 0
fi
echo "This project builds with Rust $pinned (rust-toolchain.toml); install it: rustup toolchain install $pinned" >&2
exit 1
