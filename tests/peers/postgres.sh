#!/usr/bin/env bash
# PostgreSQL as a throw-away test peer on 127.0.0.1 (for the postgres store).
#
#   postgres.sh start DIR PORT     a fresh cluster in DIR/data, listening on 127.0.0.1:PORT only
#   postgres.sh stop DIR
#
# initdb makes the cluster (Debian's server binaries under /usr/lib/postgresql/*/bin); the
# superuser is "mailwire" with password "secret" (scram-sha-256 over TCP, trust on the Unix
# socket in DIR/run); a database "mailwire" exists. The server runs in the foreground as a plain
# process (its pid is ours to stop), with fsync on (durability is what the store tests test).
# As root, PostgreSQL refuses to run as root: the cluster and the server run as the user
# "postgres" (from the Debian package), and DIR is made theirs.
# Connect with: postgres://mailwire:secret@127.0.0.1:PORT/mailwire
set -euo pipefail
source "$(dirname "$(realpath "$0")")/lib.sh"
peer_init postgres "postgres.sh start DIR PORT | stop DIR" "$@"
if [ "$PEER_CMD" = stop ]; then peer_stop; exit 0; fi

port=${3:?usage: postgres.sh start DIR PORT}
[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || peer_fail "bad PORT '$port'"
PEER_PORTS="postgres=$port"
peer_already_running "$PEER_PORTS"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] ||
  peer_missing "PostgreSQL's server binaries not found: install the Debian package postgresql (apt-get install -y --no-install-recommends postgresql)"

mkdir -p "$PEER_DIR/run"
as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || peer_missing "user postgres missing: reinstall the Debian package postgresql-common"
  chmod 711 "$PEER_DIR"
  chown postgres: "$PEER_DIR/run"
  as=(setpriv --reuid=postgres --regid=postgres --init-groups)
fi
if [ ! -s "$PEER_DIR/data/PG_VERSION" ]; then
  printf 'secret\n' > "$PEER_DIR/pwfile"
  mkdir -p "$PEER_DIR/data"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PEER_DIR/data" "$PEER_DIR/pwfile"; fi
  "${as[@]}" "$bin/initdb" -D "$PEER_DIR/data" -U mailwire --pwfile="$PEER_DIR/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
    > "$PEER_DIR/initdb.log" 2>&1 || peer_fail "initdb failed" "$PEER_DIR/initdb.log"
  rm -f "$PEER_DIR/pwfile"
fi
PEER_LOGS=("$PEER_DIR/postgres.log")
peer_spawn "$PEER_DIR/postgres.log" "${as[@]}" "$bin/postgres" -D "$PEER_DIR/data" -p "$port" \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PEER_DIR/run" -c fsync=on \
  -c max_connections=200 -c shared_buffers=64MB
peer_wait "$PEER_PID" "listen:$port"
# The database the store uses.
for _ in $(seq 50); do
  "${as[@]}" "$bin/psql" -h "$PEER_DIR/run" -p "$port" -U mailwire -d postgres -Atqc 'select 1' \
    > /dev/null 2>&1 && break
  sleep 0.1
done
if ! "${as[@]}" "$bin/psql" -h "$PEER_DIR/run" -p "$port" -U mailwire -d postgres -Atqc \
  "select 1 from pg_database where datname = 'mailwire'" | grep -q 1; then
  "${as[@]}" "$bin/createdb" -h "$PEER_DIR/run" -p "$port" -U mailwire mailwire \
    >> "$PEER_DIR/postgres.log" 2>&1 || peer_fail "createdb failed" "$PEER_DIR/postgres.log"
fi
peer_watchdog
echo "postgres: pid $PEER_PID $PEER_PORTS url postgres://mailwire:secret@127.0.0.1:$port/mailwire"
