#!/bin/sh
# The classic cache leak, exported by tests/c/heapsnap_cache_leak, read by
# memlab through tools/memlab-read: the 1000 cached bytes objects are
# counted with their sizes, and memlab's retainer path to one of them runs
# from the GC roots through the module and its `_CACHE` dict.
#
#   memlab_cache_leak.sh GENERATOR SOURCE_DIR
# Exit 77 (skipped) when memlab is not installed in tools/js.
set -eu
gen=$1
src=$2
if ! command -v node >/dev/null || [ ! -d "$src/tools/js/node_modules/@memlab/heap-analysis" ]; then
  echo "memlab is not installed in $src/tools/js: run tools/setup-debian" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp/leak.rcsnap" "$tmp/leak.heapsnapshot"
"$src/tools/memlab-read" "$tmp/leak.heapsnapshot" --name bytes >"$tmp/out.json"
node - "$tmp/out.json" <<'JS'
const assert = require('assert');
const out = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
assert.strictEqual(out.nodes, 2006, 'every object and the root');
assert.deepStrictEqual(out.by_name.bytes, {count: 1000, self_size: 1057000});
assert.deepStrictEqual(out.by_name.int, {count: 1000, self_size: 28000});
assert.strictEqual(out.by_name['(GC roots)'].count, 1);
const p = out.path;
assert.ok(p, 'memlab found a retainer path');
const text = p.map(s => ('node' in s ? `${s.node}` : `--${s.edge} (${s.edge_type})-->`)).join(' ');
const want = /^\(GC roots\) --module app \(property\)--> module --__dict__ \(internal\)--> dict --_CACHE \(property\)--> dict --\d+ \(element\)--> bytes$/;
assert.match(text, want);
console.log(`memlab: ${out.by_name.bytes.count} bytes objects, ${out.by_name.bytes.self_size} bytes; path: ${text}`);
JS
