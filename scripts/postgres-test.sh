# Sourced by scripts/test.sh: starts a private PostgreSQL server for the
# store tests and exports LIVECORD_TEST_DATABASE_URL and
# LIVECORD_REQUIRE_POSTGRES=1. Installs Debian's postgresql when missing;
# the cluster lives in a temporary directory, listens on 127.0.0.1 only,
# and is stopped and removed when the calling shell exits. Idempotent: a
# URL already exported that answers is reused.

livecord_pg_start() {
  local pg_bin="" d
  if [ -n "${LIVECORD_TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null &&
     psql "$LIVECORD_TEST_DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; then
    export LIVECORD_REQUIRE_POSTGRES=1
    return 0
  fi
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin=$d; done
  if [ -z "$pg_bin" ]; then
    echo "installing Debian packages: postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin=$d; done
  fi
  [ -n "$pg_bin" ] || { echo "scripts/postgres-test.sh: no initdb after installing postgresql" >&2; return 1; }

  # initdb refuses to run as root: run the server as the package's postgres user.
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  LIVECORD_PG_DIR=$(mktemp -d /tmp/livecord-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres: "$LIVECORD_PG_DIR"
  "${as[@]}" "$pg_bin/initdb" -D "$LIVECORD_PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  local port try
  for try in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 30000))
    if "${as[@]}" "$pg_bin/pg_ctl" -D "$LIVECORD_PG_DIR/data" -l "$LIVECORD_PG_DIR/log" -w -t 60 \
         -o "-c listen_addresses=127.0.0.1 -p $port -k $LIVECORD_PG_DIR -c max_connections=300" start >/dev/null; then
      LIVECORD_PG_BIN=$pg_bin
      export LIVECORD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
      export LIVECORD_REQUIRE_POSTGRES=1
      trap livecord_pg_stop EXIT
      echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') for the store tests on 127.0.0.1:$port"
      return 0
    fi
  done
  echo "scripts/postgres-test.sh: could not start PostgreSQL; its log:" >&2
  cat "$LIVECORD_PG_DIR/log" >&2 || true
  return 1
}

livecord_pg_stop() {
  [ -n "${LIVECORD_PG_DIR:-}" ] || return 0
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$LIVECORD_PG_BIN/pg_ctl" -D "$LIVECORD_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  else
    "$LIVECORD_PG_BIN/pg_ctl" -D "$LIVECORD_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$LIVECORD_PG_DIR"
  LIVECORD_PG_DIR=
}

livecord_pg_start
