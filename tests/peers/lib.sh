# shellcheck shell=bash
# Shared helpers for the peer scripts in this folder (sourced, not run). Every peer keeps all of its
# state in one folder DIR: NAME.pid (the peer's pid), NAME.ports (what it was started with), its log,
# its config and data. Peers are started as plain background processes in their own session (setsid)
# and stopped by pid; nothing here touches system services or any folder outside DIR.
#
# Environment understood by every script:
#   PEER_START_TIMEOUT  seconds to wait for a peer to answer (default 20)
#   PEER_OWNER_PID      if set, a watchdog stops the peer once that process is gone (the Rust test
#                       kit sets it to the test process, so a killed test run leaves no peer behind)
# Exit status: 0 started (or already running) / stopped, 1 failed to start (log tail on stderr),
# 2 bad usage, 3 not installed (the message names the package to install).

# peer_fail MSG [LOGFILE...]: print MSG and the tail of each log to stderr, exit 1.
peer_fail() {
  local msg=$1 f; shift
  echo "$PEER_NAME: error: $msg" >&2
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "--- last lines of $f:" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}

# peer_missing MSG: the peer is not installed: print MSG and exit 3 (the Rust test kit reports
# exit status 3 as "not installed", with this message).
peer_missing() {
  echo "$PEER_NAME: not installed: $1 (or run tests/peers/install.sh)" >&2
  exit 3
}

# peer_need COMMAND PACKAGE [HOW]: exit 3 if COMMAND is not on PATH (/usr/sbin is searched too).
peer_need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && { PATH=$PATH:/usr/sbin; return 0; }
  peer_missing "'$1' not found: install ${3:-the Debian package $2 (apt-get install -y --no-install-recommends $2)}"
}

# peer_need_python MODULE PIP_SPEC: exit 3 if python3 cannot import MODULE.
peer_need_python() {
  peer_need python3 python3
  python3 -c "import $1" 2>/dev/null ||
    peer_missing "python3 cannot import $1: install the PyPI package with python3 -m pip install '$2'"
}

# peer_alive PID: the process exists and is not a zombie (an orphaned peer may wait unreaped).
peer_alive() {
  local pid=$1 stat
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# peer_pid: the pid recorded in DIR/NAME.pid, if any.
peer_pid() { cat "$PEER_DIR/$PEER_NAME.pid" 2>/dev/null || true; }

# peer_already_running PORTS: exit 0 if the peer in DIR is up with the same ports; fail if with others.
peer_already_running() {
  local pid; pid=$(peer_pid)
  peer_alive "$pid" || return 0
  if [ "$(cat "$PEER_DIR/$PEER_NAME.ports" 2>/dev/null)" != "$1" ]; then
    peer_fail "already running in $PEER_DIR (pid $pid) with $(cat "$PEER_DIR/$PEER_NAME.ports" 2>/dev/null); stop it first"
  fi
  echo "$PEER_NAME: already running, pid $pid $1"
  exit 0
}

# peer_stop: TERM the recorded pid, wait up to 10 s, then KILL; forget the pid; stop the watchdog.
peer_stop() {
  local pid w
  w=$(cat "$PEER_DIR/$PEER_NAME.watchdog.pid" 2>/dev/null || true)
  if [ -n "$w" ]; then kill "$w" 2>/dev/null || true; fi
  rm -f "$PEER_DIR/$PEER_NAME.watchdog.pid"
  pid=$(peer_pid)
  if [ -z "$pid" ]; then echo "$PEER_NAME: not running in $PEER_DIR"; return 0; fi
  if peer_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do peer_alive "$pid" || break; sleep 0.1; done
    if peer_alive "$pid"; then
      echo "$PEER_NAME: pid $pid ignored SIGTERM for 10 s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do peer_alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$PEER_DIR/$PEER_NAME.pid" "$PEER_DIR/$PEER_NAME.ports"
  echo "$PEER_NAME: stopped (pid $pid)"
}

# peer_cert: self-signed certificate DIR/cert.pem + DIR/key.pem for localhost and 127.0.0.1 (made once).
# A leaf (CA:FALSE, serverAuth) rather than openssl's default CA certificate, so that it can be used as
# its own trust anchor by OpenSSL clients and by rustls/webpki alike (webpki rejects a CA used as end entity).
peer_cert() {
  [ -s "$PEER_DIR/cert.pem" ] && [ -s "$PEER_DIR/key.pem" ] && return 0
  peer_need openssl openssl
  cat > "$PEER_DIR/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = localhost
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
CNF
  openssl req -x509 -config "$PEER_DIR/openssl.cnf" -newkey rsa:2048 -nodes -days 365 \
    -keyout "$PEER_DIR/key.pem.tmp" -out "$PEER_DIR/cert.pem.tmp" > "$PEER_DIR/openssl.log" 2>&1 ||
    peer_fail "openssl could not make a certificate" "$PEER_DIR/openssl.log"
  mv "$PEER_DIR/key.pem.tmp" "$PEER_DIR/key.pem"; mv "$PEER_DIR/cert.pem.tmp" "$PEER_DIR/cert.pem"
}

# peer_listening PID PORT: PID holds a listening socket on 127.0.0.1:PORT (needs ss; true without it).
peer_listening() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}

# peer_greets PORT PREFIX: a TCP connection to 127.0.0.1:PORT is greeted with a line starting with PREFIX.
peer_greets() {
  local got
  got=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c ${#2} <&3' _ "$1" "$2" 2>/dev/null) || return 1
  [ "$got" = "$2" ]
}

# peer_wait PID CHECK...: wait until every CHECK passes ("listen:PORT" = PID listens on PORT,
# "greet:PORT:PREFIX" = PID listens and the greeting starts with PREFIX); if PID dies or time runs out,
# fail with the tails of the logs named in the array PEER_LOGS.
peer_wait() {
  local pid=$1 deadline c kind port prefix ok; shift
  deadline=$((SECONDS + ${PEER_START_TIMEOUT:-20}))
  while :; do
    peer_alive "$pid" || peer_fail "exited while starting (pid $pid)" "${PEER_LOGS[@]}"
    ok=1
    for c in "$@"; do
      IFS=: read -r kind port prefix <<< "$c"
      peer_listening "$pid" "$port" || { ok=; break; }
      if [ "$kind" = greet ]; then peer_greets "$port" "$prefix" || { ok=; break; }; fi
    done
    [ -n "$ok" ] && peer_alive "$pid" && return 0
    [ "$SECONDS" -lt "$deadline" ] || peer_fail "not answering on port $port after ${PEER_START_TIMEOUT:-20} s (pid $pid still running)" "${PEER_LOGS[@]}"
    sleep 0.1
  done
}

# peer_spawn LOG CMD...: start CMD in its own session, stdin closed, output to LOG; record pid and ports.
peer_spawn() {
  local log=$1; shift
  setsid "$@" > "$log" 2>&1 < /dev/null &
  PEER_PID=$!
  echo "$PEER_PID" > "$PEER_DIR/$PEER_NAME.pid"
  echo "$PEER_PORTS" > "$PEER_DIR/$PEER_NAME.ports"
}

# peer_watchdog: if PEER_OWNER_PID is set, stop the peer once that process has gone away.
peer_watchdog() {
  local owner=${PEER_OWNER_PID:-}
  [ -n "$owner" ] || return 0
  peer_alive "$owner" || return 0
  setsid bash -c '
    owner=$1 pid=$2
    alive() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
    while alive "$owner" && alive "$pid"; do sleep 1; done
    if alive "$pid"; then
      kill -TERM "$pid"
      for _ in $(seq 50); do alive "$pid" || exit 0; sleep 0.1; done
      kill -KILL "$pid"
    fi
  ' peer-watchdog "$owner" "$PEER_PID" > /dev/null 2>&1 < /dev/null &
  echo $! > "$PEER_DIR/$PEER_NAME.watchdog.pid"
}

# peer_init NAME USAGE "$@": parse "start|stop DIR ..." into PEER_CMD and PEER_DIR, or print USAGE and exit 2.
peer_init() {
  PEER_NAME=$1 PEER_USAGE=$2; shift 2
  case "${1:-}" in
    start|stop) ;;
    *) echo "usage: $PEER_USAGE" >&2; exit 2 ;;
  esac
  [ -n "${2:-}" ] || { echo "usage: $PEER_USAGE" >&2; exit 2; }
  PEER_CMD=$1 PEER_DIR=$(realpath -m "$2")
}
