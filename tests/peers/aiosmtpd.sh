#!/usr/bin/env bash
# aiosmtpd as an SMTP test peer on 127.0.0.1 that keeps every message as a file (aiosmtpd_server.py).
#
#   aiosmtpd.sh start DIR PORT [--discard] [--auth] [--auth-cleartext] [--auth-required] [--require-starttls] [--smtputf8] [--max-recipients=N]
#   aiosmtpd.sh stop DIR
#
# Messages: DIR/maildir/new/NAME, exactly as received (CRLF, dot-stuffing undone, no header added), with
# the envelope in DIR/envelopes/NAME.json; NAMEs sort in arrival order. --discard keeps nothing.
# STARTTLS is always offered, with the self-signed DIR/cert.pem (localhost, 127.0.0.1), never required
# unless --require-starttls. --auth offers AUTH PLAIN and LOGIN (alice/secret, bob/secret), after
# STARTTLS only unless --auth-cleartext is given too; --auth-required refuses MAIL before AUTH.
# --max-recipients=N refuses every recipient past the Nth of a transaction with 452 4.5.3.
# aiosmtpd advertises neither PIPELINING nor CHUNKING; SIZE 33554432 and 8BITMIME yes.
# Log: DIR/aiosmtpd.log. Needs python3 with aiosmtpd (pip install aiosmtpd).
set -euo pipefail
here=$(dirname "$(realpath "$0")")
source "$here/lib.sh"
peer_init aiosmtpd "aiosmtpd.sh start DIR PORT [--discard] [--auth] [--auth-cleartext] [--auth-required] [--require-starttls] [--smtputf8] [--max-recipients=N] | stop DIR" "$@"
if [ "$PEER_CMD" = stop ]; then peer_stop; exit 0; fi

port=${3:?usage: aiosmtpd.sh start DIR PORT [options]}; shift 3
[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || peer_fail "bad PORT '$port'"
for opt in "$@"; do
  case "$opt" in
    --discard|--auth|--auth-cleartext|--auth-required|--require-starttls|--smtputf8) ;;
    --max-recipients=[1-9]*) [[ ${opt#*=} =~ ^[0-9]+$ ]] || peer_fail "bad option '$opt'" ;;
    *) peer_fail "unknown option '$opt'" ;;
  esac
done
PEER_PORTS="smtp=$port options=$*"
peer_already_running "$PEER_PORTS"
peer_need_python aiosmtpd aiosmtpd
mkdir -p "$PEER_DIR/maildir/new" "$PEER_DIR/maildir/cur" "$PEER_DIR/maildir/tmp" "$PEER_DIR/envelopes"
peer_cert
PEER_LOGS=("$PEER_DIR/aiosmtpd.log")
peer_spawn "$PEER_DIR/aiosmtpd.log" python3 -u "$here/aiosmtpd_server.py" --port "$port" --dir "$PEER_DIR" \
  --cert "$PEER_DIR/cert.pem" --key "$PEER_DIR/key.pem" "$@"
peer_wait "$PEER_PID" "greet:$port:220"
peer_watchdog
store="maildir=$PEER_DIR/maildir"; [[ " $* " == *" --discard "* ]] && store="discarding"
echo "aiosmtpd: pid $PEER_PID smtp=127.0.0.1:$port $store cert=$PEER_DIR/cert.pem${*:+ options: $*}"
