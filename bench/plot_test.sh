#!/bin/sh
# plot_test.sh - bench/plot.sh against the fixture tests/data/bench-results.tsv:
# every scope's SVG and PNG is written and not empty, each SVG names every
# system of its scope and every target, a scope without rows gets no chart,
# and a malformed file fails with a message naming its line. Run from the
# top of the tree (scripts/test.sh does); the last line is "N passed, N failed".
set -u
fixture=tests/data/bench-results.tsv
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wom-plot-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if sh bench/plot.sh "$fixture" "$tmp/out" >"$tmp/log" 2>&1; then ok; else
  bad "plot.sh on the fixture: $(cat "$tmp/log")"; fi

for scope in threads processes python cluster; do
  for ext in svg png; do
    f="$tmp/out/bench-$scope.$ext"
    if [ -s "$f" ]; then ok; else bad "$f missing or empty"; fi
  done
  svg="$tmp/out/bench-$scope.svg"
  [ -s "$svg" ] || continue
  # The SVG's text with XML's entities undone, so names read as written.
  sed 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g; s/&amp;/\&/g' "$svg" >"$tmp/text"
  # Every system of the scope, and every target label as plot.awk words it.
  awk -F '\t' -v s="$scope" '!/^#/ && $1 == s {
      print $3
      if ($9 != "") print "target " ($5 ~ /_per_s$/ ? ">=" : "<=") " " $9 "x " $10
    }' "$fixture" | sort -u >"$tmp/want"
  [ -s "$tmp/want" ] || bad "the fixture has no $scope rows"
  while IFS= read -r want; do
    if grep -qF -- "$want" "$tmp/text"; then ok; else bad "$svg does not show \"$want\""; fi
  done <"$tmp/want"
done

# A scope without rows: no chart, a line that says so, success.
grep -v '^cluster' "$fixture" >"$tmp/nocluster.tsv"
if sh bench/plot.sh "$tmp/nocluster.tsv" "$tmp/nc" >"$tmp/log" 2>&1 &&
   [ ! -e "$tmp/nc/bench-cluster.svg" ] && grep -q 'no cluster rows' "$tmp/log"; then ok; else
  bad "a file without cluster rows: $(cat "$tmp/log")"; fi

# Malformed copies: a column short on line 5, a value that is no number on
# line 7. plot.sh must fail and name the line.
awk 'NR == 5 { sub(/\t[^\t]*$/, "") } { print }' "$fixture" >"$tmp/short.tsv"
awk -F '\t' -v OFS='\t' 'NR == 7 { $6 = "fast" } { print }' "$fixture" >"$tmp/nan.tsv"
for c in short:5 nan:7; do
  name=${c%%:*}; line=${c#*:}
  if sh bench/plot.sh "$tmp/$name.tsv" "$tmp/$name" >"$tmp/log" 2>&1; then
    bad "plot.sh accepted $name.tsv"
  elif grep -q "$name.tsv:$line:" "$tmp/log"; then ok; else
    bad "plot.sh on $name.tsv did not name line $line: $(cat "$tmp/log")"
  fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
