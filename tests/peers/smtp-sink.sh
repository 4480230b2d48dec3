#!/usr/bin/env bash
# Postfix smtp-sink: an SMTP server (LMTP with -L) on 127.0.0.1 that accepts any mail, discards it and
# counts it: the fastest SMTP peer, the yardstick for SMTP client throughput.
#
#   smtp-sink.sh start DIR PORT [extra smtp-sink flags, e.g. -L (LMTP) or -d "DIR/%M." (dump messages)]
#   smtp-sink.sh stop DIR
#
# Counters: smtp-sink -c rewrites a line "sess=N quit=N mesg=N" in DIR/smtp-sink.out, separated by CR
# (not LF), each time a session ends, a QUIT is received or a message's final "." is accepted:
#   tr '\r' '\n' < DIR/smtp-sink.out | grep sess= | tail -n 1      ->  sess=3 quit=3 mesg=12
# sess counts finished connections (any TCP connection, even one that says nothing), quit counts QUIT
# commands, mesg counts messages (one per DATA/BDAT transaction, whatever the number of recipients).
# An empty file means all zero. This script never connects to the port itself, so counters start at 0.
#
# Its EHLO reply: PIPELINING 8BITMIME "AUTH PLAIN LOGIN" XCLIENT XFORWARD ENHANCEDSTATUSCODES DSN and then a
# last line "250 " with no keyword at all (an EHLO parser must cope); no SIZE, STARTTLS, SMTPUTF8 or
# CHUNKING. It accepts any sender, recipient and AUTH without checking anything. Run as root it needs
# -u USER to drop privileges after binding (nobody here).
# Load it with: smtp-source -s 4 -m 1000 -l 10240 -f a@example.com -t alice@example.com 127.0.0.1:PORT (-L for LMTP).
set -euo pipefail
source "$(dirname "$(realpath "$0")")/lib.sh"
peer_init smtp-sink "smtp-sink.sh start DIR PORT [smtp-sink flags] | stop DIR" "$@"
if [ "$PEER_CMD" = stop ]; then peer_stop; exit 0; fi

port=${3:?usage: smtp-sink.sh start DIR PORT [flags]}; shift 3
[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || peer_fail "bad PORT '$port'"
PEER_PORTS="smtp=$port flags=$*"
peer_already_running "$PEER_PORTS"
peer_need smtp-sink postfix "the Debian package postfix (echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections; apt-get install -y --no-install-recommends postfix)"
mkdir -p "$PEER_DIR"
user=(); [ "$(id -u)" = 0 ] && user=(-u nobody)
# -c: counters into DIR/smtp-sink.out (its stdout); 256: listen backlog.
PEER_LOGS=("$PEER_DIR/smtp-sink.out")
peer_spawn "$PEER_DIR/smtp-sink.out" smtp-sink "${user[@]}" -c "$@" "127.0.0.1:$port" 256
# Only wait for the listening socket: a probe connection would count as a session.
peer_wait "$PEER_PID" "listen:$port"
peer_watchdog
echo "smtp-sink: pid $PEER_PID smtp=127.0.0.1:$port${*:+ flags: $*}"
echo "smtp-sink: counters: tr '\\r' '\\n' < $PEER_DIR/smtp-sink.out | grep sess= | tail -n 1"
