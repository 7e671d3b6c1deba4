#!/usr/bin/env bash
# `cargo deny check` against deny.toml: bans, licenses and sources, then advisories.
#
# cargo-deny is built from crates.io at a pinned version into .tools/ (once per machine).
# Advisories need the RustSec database, which lives only on GitHub: where GitHub answers, it is
# fetched and checked; where it does not (this project's CI machines reach package registries
# only), ADVISORY_DB may name a copy (a folder holding advisory-db-*/, as cargo-deny keeps it),
# and without one the check says plainly that advisories were NOT checked — it never claims a pass.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.20.2
deny=.tools/bin/cargo-deny
if ! "$deny" --version 2>/dev/null | grep -qx "cargo-deny $version"; then
    cargo install cargo-deny --locked --version "$version" --root .tools
fi

"$deny" --offline --locked check bans licenses sources

if [ -n "${ADVISORY_DB:-}" ]; then
    config=$(mktemp)
    trap 'rm -f "$config"' EXIT
    sed "s|^\[advisories\]|[advisories]\ndb-path = \"$ADVISORY_DB\"\nmaximum-db-staleness = \"${ADVISORY_DB_MAX_AGE:-P90D}\"|" deny.toml >"$config"
    "$deny" --offline --locked --config "$config" check advisories
elif timeout 20 git ls-remote --exit-code https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    "$deny" --locked check advisories
else
    echo "advisories: NOT CHECKED — the RustSec database is on GitHub, which this machine does not reach (set ADVISORY_DB to a copy)" >&2
fi
