# Sourced by .ci/run: a throwaway PostgreSQL server on loopback for the tests that need one
# (tests/pipelines/test_tune_postgres.py, test_tracking_server.py).
#
#   start_test_postgres   install the Debian package if missing, initdb in a temp dir, start the
#                         server on a free 127.0.0.1 port, create a database and export
#                         ATTNKIT_TEST_POSTGRES_URL=postgresql://attnkit@127.0.0.1:PORT/attnkit_test
#   stop_test_postgres    stop the server and remove its directory (safe to call twice)
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the
# package creates; otherwise as the current user. Auth is `trust`, on loopback only.

_pg_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_test_postgres() {
  local bindir port
  bindir="$(_pg_bindir)"
  if [ -z "$bindir" ]; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "[ci] installing postgresql (Debian package)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    bindir="$(_pg_bindir)"
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home postgres
  fi
  ATTNKIT_PG_DIR="$(mktemp -d /tmp/attnkit-postgres.XXXXXX)"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$ATTNKIT_PG_DIR"; fi
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  _pg_as_owner "$bindir/initdb" -D "$ATTNKIT_PG_DIR/data" -U attnkit --auth=trust -E UTF8 \
    >"$ATTNKIT_PG_DIR/initdb.log"
  _pg_as_owner "$bindir/pg_ctl" -D "$ATTNKIT_PG_DIR/data" -l "$ATTNKIT_PG_DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $ATTNKIT_PG_DIR" start >/dev/null
  ATTNKIT_PG_CTL="$bindir/pg_ctl"
  "$bindir/createdb" -h 127.0.0.1 -p "$port" -U attnkit attnkit_test
  export ATTNKIT_TEST_POSTGRES_URL="postgresql://attnkit@127.0.0.1:$port/attnkit_test"
  echo "[ci] PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

stop_test_postgres() {
  if [ -n "${ATTNKIT_PG_DIR:-}" ] && [ -d "$ATTNKIT_PG_DIR" ]; then
    _pg_as_owner "$ATTNKIT_PG_CTL" -D "$ATTNKIT_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$ATTNKIT_PG_DIR"
  fi
  ATTNKIT_PG_DIR=""
}
