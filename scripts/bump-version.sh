#!/usr/bin/env bash
# Sets the policy's version everywhere users see it: Cargo.toml (and
# Cargo.lock), metadata.yml, the module tag of every manifest in policies/,
# the tags README.md's commands pull, and artifacthub-pkg.yml.
# tests/it/release.rs fails on any drift.
set -euo pipefail
cd "$(dirname "$0")/.."
new="${1:?usage: scripts/bump-version.sh X.Y.Z}"
[[ "$new" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "not a version: $new" >&2; exit 1; }
old="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

sed -i "0,/^version = \"$old\"/s//version = \"$new\"/" Cargo.toml
cargo update --offline -p native-sidecar-policy >/dev/null 2>&1 || cargo update -p native-sidecar-policy
sed -i "s/^\(  io.kubewarden.policy.version:\) .*/\1 $new/" metadata.yml
sed -i "s|\(module: registry://.*\):v$old$|\1:v$new|" policies/*.yaml
sed -i "s|\(registry://[^ ]*/native-sidecar\):v$old|\1:v$new|g" README.md
if command -v kwctl >/dev/null; then
  kwctl scaffold artifacthub --metadata-path metadata.yml --questions-path questions-ui.yml > artifacthub-pkg.yml
else
  sed -i "s/^version: $old$/version: $new/; s/:v$old/:v$new/g; s|/v$old/policy.wasm|/v$new/policy.wasm|" artifacthub-pkg.yml
fi
echo "version $old -> $new"
