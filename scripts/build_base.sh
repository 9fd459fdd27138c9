#!/usr/bin/env bash
# Builds a commit's TypeScript into <dir> for `npm run bench:ab -- --old <dir>`: the commit's tree
# (git archive, nothing of the working tree), compiled with this checkout's node_modules and native
# build linked in. So only the TypeScript differs from this checkout; to compare a native change,
# build that tree's addon there instead (npm run build:native in <dir>, after removing the link).
#   scripts/build_base.sh <commit> <dir>
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: scripts/build_base.sh <commit> <dir>" >&2
  exit 2
fi
commit=$1 dir=$2
root=$(git rev-parse --show-toplevel)
git -C "$root" rev-parse --verify --quiet "$commit^{commit}" > /dev/null || { echo "build_base: no commit '$commit' here" >&2; exit 2; }
[ -d "$root/node_modules" ] || { echo "build_base: run npm install in $root first" >&2; exit 2; }
[ -d "$root/build" ] || { echo "build_base: no native build in $root (npm install makes it)" >&2; exit 2; }
rm -rf "$dir"
mkdir -p "$dir"
git -C "$root" archive "$commit" | tar -x -C "$dir"
ln -s "$root/node_modules" "$dir/node_modules"
rm -rf "$dir/build"
ln -s "$root/build" "$dir/build"
(cd "$dir" && "$root/node_modules/.bin/tsc" -p tsconfig.json)
echo "built $(git -C "$root" rev-parse --short "$commit") into $dir"
