#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then
# vets and runs every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# Real clients (discord.js, @discordjs/voice, @snazzah/davey, @google/genai)
# that check the emulators; pinned by the committed lockfile.
npm ci --prefix tools/node --no-audit --no-fund --loglevel=error

# gopus compiles its bundled libopus; its old sources trip a harmless GCC warning.
export CGO_ENABLED=1
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-stringop-overread}"
export LIVECORD_REQUIRE_NODE=1

go vet ./...
# -count=1: every run really runs (the real-client tests exec node, whose inputs the test cache cannot see).
go test -race -count=1 -timeout 14m ./...
