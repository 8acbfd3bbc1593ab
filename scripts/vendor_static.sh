#!/usr/bin/env bash
# Refresh the vendored front-end files in static/vendor/ from the npm registry.
# The files are committed, so running SwarmWeb never needs npm or a network;
# run this only to upgrade a library (bump the version below, run, commit).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  "htmx.org@2.0.11:dist/htmx.min.js:htmx/htmx.min.js"
  "htmx-ext-ws@2.0.4:dist/ws.min.js:htmx/ext-ws.min.js"
  "cytoscape@3.34.4:dist/cytoscape.min.js:cytoscape/cytoscape.min.js"
  "dagre@0.8.5:dist/dagre.min.js:cytoscape/dagre.min.js"
  "cytoscape-dagre@2.5.0:cytoscape-dagre.js:cytoscape/cytoscape-dagre.js"
  "uplot@1.6.32:dist/uPlot.iife.min.js:uplot/uPlot.iife.min.js"
  "uplot@1.6.32:dist/uPlot.min.css:uplot/uPlot.min.css"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${PACKAGES[@]}"; do
  IFS=: read -r spec src dest <<<"$entry"
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tarball=$(ls -t "$work"/*.tgz | head -1)
  mkdir -p "$work/x" && tar xzf "$tarball" -C "$work/x"
  mkdir -p "static/vendor/$(dirname "$dest")"
  cp "$work/x/package/$src" "static/vendor/$dest"
  cp "$work/x/package/LICENSE"* "static/vendor/$(dirname "$dest")/LICENSE.${spec%@*}" 2>/dev/null || true
  rm -rf "$work/x" "$tarball"
  echo "vendored $spec -> static/vendor/$dest"
done
