#!/bin/sh
# Rebuilds dashboard/dwt_dashboard/vendor/plotly-scattergl-strict.min.js from npm (pinned
# in package-lock.json): plotly.js's core and its strict scattergl trace, nothing else.
# Needs node and npm; run it when the plotly pin in requirements/constraints.txt changes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# A fixed place: plotly's inlined CSS gets an id hashed from its file's path, so the same
# path gives the same bytes (one build is sha256-identical to the next).
work=/tmp/dwt-plotly-build
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
# esbuild's platform binary is an optional dependency npm installs; its install script
# only checks it, so --ignore-scripts keeps the build free of third-party scripts.
NODE_PATH="$work/node_modules" node "$here/build.js" \
  "$here/../../dashboard/dwt_dashboard/vendor/plotly-scattergl-strict.min.js"
