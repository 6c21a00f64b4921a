#!/usr/bin/env bash
# The shared library exports exactly the functions the public header declares
# with WSP_API, all named wsp_*; the static library defines no other global
# names (everything else is static or hidden behind the wsp_ prefix).
#
#   exported_symbols.sh SHARED_LIB STATIC_LIB HEADER
set -euo pipefail
shared=$1 static=$2 header=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/wsproto-symbols.XXXXXX")
trap 'rm -rf "$work"' EXIT

nm -D --defined-only "$shared" | awk 'NF >= 3 { print $3 }' | sort -u > "$work/exported"
grep -o '^WSP_API[^(]*(' "$header" | sed 's/.*[ *]\(wsp_[a-z0-9_]*\)($/\1/' |
    sort -u > "$work/declared"

status=0
if grep -v '^wsp_' "$work/exported" > "$work/foreign"; then
    echo "exported symbols without the wsp_ prefix:"; cat "$work/foreign"; status=1
fi
if ! diff -u --label declared --label exported "$work/declared" "$work/exported"; then
    echo "the shared library's exports differ from the header's WSP_API functions"
    status=1
fi
nm -g --defined-only "$static" | awk 'NF >= 3 { print $3 }' | sort -u > "$work/static_globals"
if grep -v '^wsp_' "$work/static_globals" > "$work/static_foreign"; then
    echo "global symbols in the static library without the wsp_ prefix:"
    cat "$work/static_foreign"; status=1
fi
echo "$(wc -l < "$work/exported") exported symbols, $(wc -l < "$work/declared") declared"
exit $status
