#!/usr/bin/env bash
# Twisted's ESMTP + POP3 + IMAP4 servers (twisted_mail.py) as one test peer on 127.0.0.1.
#
#   twisted.sh start DIR BASEPORT [--no-tls]     IMAP BASE+143, POP3 BASE+110, SMTP BASE+25
#   twisted.sh stop DIR
#
# One in-memory store for users alice and bob (password "secret"): mail sent over SMTP to
# alice@any.domain is read back over IMAP and POP3; it lives as long as the process.
# SMTP: AUTH CRAM-MD5 PLAIN LOGIN (optional). IMAP: LOGIN, AUTHENTICATE CRAM-MD5 PLAIN LOGIN.
# POP3: USER/PASS, APOP, AUTH CRAM-MD5 PLAIN LOGIN; no STLS.
# Unless --no-tls: STARTTLS on SMTP and IMAP with the self-signed DIR/cert.pem (localhost, 127.0.0.1);
# IMAP then advertises LOGINDISABLED and refuses LOGIN until STARTTLS (AUTHENTICATE still works).
# Log: DIR/twisted.log. Needs python3 with twisted[tls] (pip install 'twisted[tls]').
set -euo pipefail
here=$(dirname "$(realpath "$0")")
source "$here/lib.sh"
peer_init twisted "twisted.sh start DIR BASEPORT [--no-tls] | stop DIR" "$@"
if [ "$PEER_CMD" = stop ]; then peer_stop; exit 0; fi

base=${3:?usage: twisted.sh start DIR BASEPORT [--no-tls]}
[[ $base =~ ^[0-9]+$ ]] && [ "$base" -ge 1 ] && [ "$((base + 143))" -le 65535 ] || peer_fail "bad BASEPORT '$base'"
tls=yes
case "${4:-}" in
  "") ;;
  --no-tls) tls= ;;
  *) peer_fail "unknown option '$4'" ;;
esac
imap=$((base + 143)) pop3=$((base + 110)) smtp=$((base + 25))
PEER_PORTS="imap=$imap pop3=$pop3 smtp=$smtp tls=${tls:-no}"
peer_already_running "$PEER_PORTS"
peer_need_python twisted.mail.imap4 'twisted[tls]'
mkdir -p "$PEER_DIR"
cert=()
if [ -n "$tls" ]; then
  peer_need_python OpenSSL 'twisted[tls]'   # pyOpenSSL, for STARTTLS (or start with --no-tls)
  peer_cert
  cert=(--cert "$PEER_DIR/cert.pem" --key "$PEER_DIR/key.pem")
fi
PEER_LOGS=("$PEER_DIR/twisted.log")
peer_spawn "$PEER_DIR/twisted.log" python3 -u "$here/twisted_mail.py" --imap "$imap" --pop3 "$pop3" --smtp "$smtp" \
  "${cert[@]}"
peer_wait "$PEER_PID" "greet:$imap:* OK" "greet:$pop3:+OK" "greet:$smtp:220"
peer_watchdog
echo "twisted: pid $PEER_PID $PEER_PORTS${tls:+ cert=$PEER_DIR/cert.pem}"
