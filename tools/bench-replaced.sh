#!/usr/bin/env bash
# make bench-replaced: runs the write probe (tools/bench/src/write_probe.rs) against the design the
# current write path replaced — the tree at REPLACED_REV, where lists and history were written with
# the evidence — on a private emulator, and keeps its figures in tools/bench/replaced-design-writes.tsv,
# which `make bench` prints beside the current design's. Needs the repository's history.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

# The last commit before the authoritative write and the placement were separated.
REPLACED_REV="${REPLACED_REV:-e40686b}"
here="$PWD"
tree="$here/target/replaced-design"
rm -rf "$tree"
mkdir -p "$tree"
git archive "$REPLACED_REV" | tar -x -C "$tree"

# A probe crate in that workspace: the same fixtures and probe, compiled against its store.
mkdir -p "$tree/tools/write-probe/src"
cat >"$tree/tools/write-probe/Cargo.toml" <<TOML
[package]
name = "write-probe"
edition.workspace = true
version.workspace = true
publish = false

[dependencies]
shared.workspace = true
devkit.workspace = true
aws-sdk-dynamodb.workspace = true
chrono.workspace = true
serde_json.workspace = true
tokio.workspace = true
TOML
# That tree kept roles, application keys and directory changes with the store, not yet in the
# domain: the same imports, from where they were then.
old_paths=(
    -e 's/^use shared::domain::Role;$/use shared::store::items::Role;/'
    -e 's/^use shared::domain::ApplicationKey;$/use shared::store::applications::ApplicationKey;/'
    -e 's/^use shared::domain::{AgencyUpsert, AgentUpsert};$/use shared::store::directory::{AgencyUpsert, AgentUpsert};/'
)
for file in fixtures.rs write_probe.rs; do
    sed "${old_paths[@]}" "tools/bench/src/$file" >"$tree/tools/write-probe/src/$file"
done
cat >"$tree/tools/write-probe/src/main.rs" <<RUST
mod fixtures;
mod write_probe;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sdk = shared::aws::sdk_config();
    let template = devkit::template::Template::load()?;
    let resources = devkit::resources::create(&sdk, &template, "replaced-", &[]).await?;
    for figure in write_probe::probe(&sdk, &resources.table).await? {
        println!("{}\t{}", figure.operation, figure.items);
    }
    Ok(())
}
RUST
sed -i 's|^    "tests",$|    "tests",\n    "tools/write-probe",|' "$tree/Cargo.toml"

# A target directory of its own: cargo names a workspace's own crates by their path inside the
# workspace, so building this tree in the main one would overwrite the current crates' artifacts.
CARGO_TARGET_DIR="$here/target/replaced-target" cargo build --manifest-path "$tree/Cargo.toml" -p write-probe

port="$(free_port)"
start_emulator "$port" target/replaced-design-emulator.log
trap stop_emulator EXIT
aws_env_for "$port"
"$here/target/replaced-target/debug/write-probe" >tools/bench/replaced-design-writes.tsv
echo "the replaced design ($REPLACED_REV), items written per operation:"
cat tools/bench/replaced-design-writes.tsv
