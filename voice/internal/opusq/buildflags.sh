#!/usr/bin/env bash
# Compares the bundled libopus's encode cost per 20 ms frame when gopus is
# compiled with different CGO_CFLAGS, in the same run: one test binary per
# flag set (go test -c; the flags are part of the build cache key, so each
# binary really has its own libopus), run in turns ROUNDS times, medians of
# BenchmarkEncodeFrame's thread-CPU encode-us/frame and the ratio to -O2.
# The packet digests each binary logs must agree (the flags may not change
# the output). Usage: bash voice/internal/opusq/buildflags.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-7}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
variants=("-O2" "-O3" "-O3 -march=x86-64-v2" "-O3 -march=x86-64-v3")
for i in "${!variants[@]}"; do
  CGO_ENABLED=1 CGO_CFLAGS="${variants[$i]} -Wno-stringop-overread" go test -c -o "$tmp/v$i.test" ./voice/internal/opusq/
done
for r in $(seq "$rounds"); do
  for i in "${!variants[@]}"; do
    "$tmp/v$i.test" -test.run '^$' -test.bench 'EncodeFrame' -test.benchtime 2000x >"$tmp/out" 2>&1
    awk -v v="$i" '/^BenchmarkEncodeFrame\//{for(k=1;k<=NF;k++) if($k=="encode-us/frame") {split($1,n,"-"); print v, n[1], $(k-1)}}' "$tmp/out" >>"$tmp/cost"
    awk -v v="$i" '/^--- BENCH:/{split($3,n,"-"); name=n[1]} /digest of/{print v, name, $NF}' "$tmp/out" >>"$tmp/digests"
  done
done
echo "packet digests (the same digest for every flag set means identical output):"
sort -u "$tmp/digests" | while read -r i b d; do printf '%-28s %-32s %s\n' "${variants[$i]}" "$b" "$d"; done
printf '%-28s %-32s %12s %8s\n' "CGO_CFLAGS" "benchmark" "median µs" "vs -O2"
for b in $(awk '{print $2}' "$tmp/cost" | sort -u); do
  base=""
  for i in "${!variants[@]}"; do
    m=$(awk -v v="$i" -v b="$b" '$1==v && $2==b {print $3}' "$tmp/cost" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    [ -z "$base" ] && base=$m
    printf '%-28s %-32s %12.1f %8.3f\n' "${variants[$i]}" "$b" "$m" "$(awk -v m="$m" -v b="$base" 'BEGIN{print m/b}')"
  done
done
