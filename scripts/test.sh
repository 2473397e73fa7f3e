#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then
# vets, staticchecks and runs every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# The pinned clients need Node.js 20.19 or newer (@noble/ciphers's engines;
# Debian 12's own nodejs is 18): say so plainly rather than fail in a test.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "scripts/test.sh: the real-client tests need Node.js >= 20.19; found $(node --version). Install a newer Node.js and re-run." >&2
  exit 1
fi

# Real clients (discord.js, @discordjs/voice, @snazzah/davey, @google/genai)
# that check the emulators; pinned by the committed lockfile.
npm ci --prefix tools/node --no-audit --no-fund --loglevel=error

# gopus compiles its bundled libopus; its old sources trip a harmless GCC warning.
export CGO_ENABLED=1
export CGO_CFLAGS="${CGO_CFLAGS:--O3 -g -Wno-stringop-overread}"
export LIVECORD_REQUIRE_NODE=1

# A real PostgreSQL for the store tests (they also run on SQLite).
source scripts/postgres-test.sh

go vet ./...
# staticcheck, pinned: CI keeps the tree as clean as it is today.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# -count=1: every run really runs (the real-client tests exec node, whose inputs the test cache cannot see).
go test -race -count=1 -timeout 14m ./...
# The acknowledgement burst at full size (200 guilds × 3 simultaneous /ask,
# none may miss Discord's 3 s window): real-time, so without the race
# detector, which slows everything several times.
go test -count=1 -run '^TestAckBurst$' ./bot/
