#!/usr/bin/env bash
# `cargo deny check` against deny.toml: bans, licenses and sources, then advisories.
#
# cargo-deny is built from crates.io at a pinned version into .tools/ (once per machine).
# Advisories need the RustSec database, which lives only on GitHub. Where GitHub answers, it is
# fetched and checked. Where it does not, ADVISORY_DB may name a copy (a folder holding
# advisory-db-*/, as cargo-deny keeps it; ADVISORY_DB_MAX_AGE, default P90D, is how old it may
# be). Without either the check fails — unless ADVISORIES_UNREACHABLE=report says that a machine
# is known to reach no GitHub (this project's CI): then it says plainly that advisories were NOT
# checked, and never that they passed.
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
    # deny.toml with the copy's folder and its allowed age under [advisories].
    awk -v db="$ADVISORY_DB" -v age="${ADVISORY_DB_MAX_AGE:-P90D}" '
        { print }
        /^\[advisories\]$/ { printf "db-path = \"%s\"\nmaximum-db-staleness = \"%s\"\n", db, age; found = 1 }
        END { if (!found) exit 1 }' deny.toml >"$config" || { echo "deny.toml has no [advisories] table" >&2; exit 1; }
    "$deny" --offline --locked --config "$config" check advisories
elif timeout 20 git ls-remote --exit-code https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    "$deny" --locked check advisories
elif [ "${ADVISORIES_UNREACHABLE:-}" = report ]; then
    echo "advisories: NOT CHECKED — the RustSec database is on GitHub, which this machine does not reach (ADVISORY_DB names a copy)" >&2
else
    echo "advisories: the RustSec database is on GitHub, which this machine does not reach: set ADVISORY_DB to a copy, or ADVISORIES_UNREACHABLE=report to go on without" >&2
    exit 1
fi
