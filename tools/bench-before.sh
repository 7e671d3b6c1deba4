#!/usr/bin/env bash
# make bench-before: runs the write probe (tools/bench/src/write_probe.rs, metered by meter.rs) against
# an earlier design — the tree at BEFORE_REV, by default the write path before issue 29 took each
# operation towards its floor — on a private emulator, and keeps its figures in
# tools/bench/before-writes.tsv, from which `make bench` prices the bill before that issue beside
# today's. Needs the repository's history.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

BEFORE_REV="${BEFORE_REV:-3ab11ba}"
here="$PWD"
tree="$here/target/before-design"
rm -rf "$tree"
mkdir -p "$tree"
git archive "$BEFORE_REV" | tar -x -C "$tree"

# A probe crate in that workspace: the same fixtures, probe and meter, compiled against its store.
mkdir -p "$tree/tools/write-probe/src"
cat >"$tree/tools/write-probe/Cargo.toml" <<TOML
[package]
name = "write-probe"
edition.workspace = true
version.workspace = true
publish = false

[dependencies]
shared.workspace = true
store = { workspace = true, features = ["tools"] }
devkit.workspace = true
aws-sdk-dynamodb.workspace = true
aws-smithy-types = "1.9"
chrono.workspace = true
reqwest.workspace = true
serde_json.workspace = true
tokio.workspace = true
TOML
cp tools/bench/src/write_probe.rs "$tree/tools/write-probe/src/write_probe.rs"
# That tree's syncs had no sync record (`again`).
sed 's/, again: Vec::new() }/ }/' tools/bench/src/fixtures.rs >"$tree/tools/write-probe/src/fixtures.rs"
sed 's/^use devkit::capacity::/use crate::capacity::/' tools/bench/src/meter.rs >"$tree/tools/write-probe/src/meter.rs"
cp tools/devkit/src/capacity.rs "$tree/tools/write-probe/src/capacity.rs"
cat >"$tree/tools/write-probe/src/main.rs" <<RUST
mod capacity;
mod fixtures;
mod meter;
mod write_probe;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sdk = shared::aws::sdk_config();
    let template = devkit::template::Template::load()?;
    let resources = devkit::resources::create(&sdk, &template, "before-", &[]).await?;
    for f in write_probe::probe(&sdk, &resources.table).await?.figures {
        println!("{}\t{}\t{}\t{}\t{}", f.operation, f.items, f.write_units, f.read_units, f.requests);
    }
    Ok(())
}
RUST
sed -i 's|^    "tests",$|    "tests",\n    "tools/write-probe",|' "$tree/Cargo.toml"

# A target directory of its own: cargo names a workspace's own crates by their path inside the
# workspace, so building this tree in the main one would overwrite the current crates' artifacts.
CARGO_TARGET_DIR="$here/target/before-target" cargo build --manifest-path "$tree/Cargo.toml" -p write-probe

port="$(free_port)"
start_emulator "$port" target/before-design-emulator.log
trap stop_emulator EXIT
aws_env_for "$port"
{
    printf '# operation\titems written\twrite units\tread units\trequests (tools/bench-before.sh at %s)\n' "$BEFORE_REV"
    "$here/target/before-target/debug/write-probe"
} >tools/bench/before-writes.tsv
cat tools/bench/before-writes.tsv
