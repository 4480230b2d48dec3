#!/usr/bin/env bash
# End-to-end check of every peer script in this folder: starts Dovecot, smtp-sink (SMTP and LMTP),
# aiosmtpd (plain and with AUTH) and Twisted in one temporary folder, talks to each with Python's
# smtplib/imaplib/poplib, imapclient, swaks and curl, stops them all by pid, and prints
# "N passed, M failed" (exit status 1 if anything failed).
#
#   verify.sh [BASEPORT]     ports used: BASE+24..BASE+995 (Dovecot), BASE+2024..BASE+4143 (the others);
#                            without BASEPORT a free random base in 20000-50000 is picked.
#   KEEP=1 verify.sh         keeps the temporary folder (configs, logs, stored mail) for a look.
set -uo pipefail
here=$(dirname "$(realpath "$0")")

ports_of() {   # every port this run uses, for base $1
  echo $(($1+24)) $(($1+110)) $(($1+143)) $(($1+993)) $(($1+995)) $(($1+2024)) $(($1+2025)) \
    $(($1+3025)) $(($1+3026)) $(($1+4025)) $(($1+4110)) $(($1+4143))
}
port_busy() { timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }
if [ -n "${1:-}" ]; then
  B=$1
else
  for _ in $(seq 20); do
    B=$((20000 + RANDOM % 30000)); busy=
    for p in $(ports_of "$B"); do port_busy "$p" && { busy=1; break; }; done
    [ -z "$busy" ] && break
  done
fi
W=$(mktemp -d -t mailwire-peers.XXXXXX)
chmod 711 "$W"   # Dovecot's mail user (nobody) must be able to pass through it
DV=$((B+143)) DVS=$((B+993)) DP=$((B+110)) DPS=$((B+995)) DL=$((B+24))
SINK=$((B+2025)) LSINK=$((B+2024)) AIO=$((B+3025)) AIOA=$((B+3026))
TB=$((B+4000)); TI=$((TB+143)) TP=$((TB+110)) TS=$((TB+25))
CA=$W/dovecot/cert.pem TCA=$W/twisted/cert.pem
pass=0 fail=0

stop_all() {
  "$here/dovecot.sh" stop "$W/dovecot"; "$here/smtp-sink.sh" stop "$W/sink"; "$here/smtp-sink.sh" stop "$W/lsink"
  "$here/aiosmtpd.sh" stop "$W/aio"; "$here/aiosmtpd.sh" stop "$W/aio-auth"; "$here/twisted.sh" stop "$W/twisted"
}
cleanup() {
  stop_all > /dev/null 2>&1
  if [ -n "${KEEP:-}" ]; then echo "state kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

check() {   # check NAME COMMAND...: run it, print "ok" or "FAIL" with the tail of its output
  local name=$1 out; shift
  if out=$("$@" 2>&1); then
    echo "ok   $name"; pass=$((pass + 1))
  else
    echo "FAIL $name"; echo "$out" | tail -n 8 | sed 's/^/     /'; fail=$((fail + 1))
  fi
}
py() {   # py CAFILE CODE: run Python with imaplib, poplib, smtplib, ssl, sys imported and ctx trusting CAFILE
  timeout 30 python3 -c "import imaplib, poplib, smtplib, ssl, sys, os, json
ctx = ssl.create_default_context(cafile='$1')
MSG = b'From: a@example.com\r\nTo: alice@example.com\r\nSubject: verify\r\n\r\nhello\r\n.leading dot\r\n'
$2"
}
MSG='From: a@example.com\r\nTo: alice@example.com\r\nSubject: verify\r\n\r\nhello\r\n.leading dot\r\n'
started() { check "start $1" "${@:2}"; }

echo "--- starting peers in $W (base port $B)"
started dovecot "$here/dovecot.sh" start "$W/dovecot" "$B"
started "smtp-sink" "$here/smtp-sink.sh" start "$W/sink" "$SINK"
started "smtp-sink -L (LMTP)" "$here/smtp-sink.sh" start "$W/lsink" "$LSINK" -L
started aiosmtpd "$here/aiosmtpd.sh" start "$W/aio" "$AIO"
started "aiosmtpd --auth" "$here/aiosmtpd.sh" start "$W/aio-auth" "$AIOA" --auth
started twisted "$here/twisted.sh" start "$W/twisted" "$TB"
check "second start is a no-op" sh -c "'$here/dovecot.sh' start '$W/dovecot' '$B' | grep -q 'already running'"
if [ "$fail" -gt 0 ]; then echo "$pass passed, $fail failed"; exit 1; fi

check "certificates are leaves (CA:FALSE, usable by rustls as their own anchor)" sh -c "
  for c in '$CA' '$TCA' '$W/aio/cert.pem'; do openssl x509 -in \$c -noout -ext basicConstraints | grep -q CA:FALSE || exit 1; done"

echo "--- Dovecot: LMTP in, IMAP and POP3 out"
check "lmtp smtplib.LMTP x2, unknown user refused" py "$CA" "
l = smtplib.LMTP('127.0.0.1', $DL)
l.sendmail('a@example.com', ['alice@localhost'], MSG); l.sendmail('a@example.com', ['alice@example.com'], MSG)
try: l.sendmail('a@example.com', ['nobody@localhost'], MSG); sys.exit('nobody accepted')
except smtplib.SMTPRecipientsRefused: pass"
check "lmtp swaks" swaks -S 2 --protocol LMTP --server 127.0.0.1 --port "$DL" --from a@example.com --to alice@localhost
check "maildir holds 3 messages" sh -c "test \$(ls '$W/dovecot/mail/alice/new' | wc -l) = 3"
check "imap LOGIN (cleartext)" py "$CA" "
m = imaplib.IMAP4('127.0.0.1', $DV); m.login('alice', 'secret'); assert m.select()[1] == [b'3'], m.select()"
check "imap CRAM-MD5 + FETCH" py "$CA" "
m = imaplib.IMAP4('127.0.0.1', $DV); m.login_cram_md5('alice', 'secret'); m.select()
assert b'\r\n.leading dot\r\n' in m.fetch('1', '(BODY.PEEK[])')[1][0][1]"
check "imap wrong password refused" py "$CA" "
try: imaplib.IMAP4('127.0.0.1', $DV).login('alice', 'wrong'); sys.exit('accepted')
except imaplib.IMAP4.error as e: assert 'AUTHENTICATIONFAILED' in str(e), e"
check "imap STARTTLS (cert verified)" py "$CA" "
m = imaplib.IMAP4('localhost', $DV); m.starttls(ctx); m.login('alice', 'secret'); m.select()"
check "imaps (cert verified, by IP)" py "$CA" "
m = imaplib.IMAP4_SSL('127.0.0.1', $DVS, ssl_context=ctx); m.login_cram_md5('bob', 'secret')"
check "imapclient AUTHENTICATE PLAIN, CREATE Sent, APPEND" py "$CA" "
import imapclient
c = imapclient.IMAPClient('127.0.0.1', port=$DV, ssl=False); c.plain_login('alice', 'secret')
c.create_folder('Sent'); c.append('Sent', MSG); assert c.select_folder('Sent')[b'EXISTS'] == 1
assert any(b'\\\\Sent' in f for f, _, n in c.list_folders() if n == 'Sent'), c.list_folders()"
check "pop3 USER/PASS + RETR" py "$CA" "
p = poplib.POP3('127.0.0.1', $DP); p.user('alice'); p.pass_('secret'); assert p.stat()[0] == 3; assert b'.leading dot' in p.retr(1)[1]; p.quit()"
check "pop3 APOP" py "$CA" "p = poplib.POP3('127.0.0.1', $DP); p.apop('alice', 'secret'); p.quit()"
check "pop3 STLS (cert verified)" py "$CA" "
p = poplib.POP3('localhost', $DP); p.stls(ctx); p.user('alice'); p.pass_('secret'); p.quit()"
check "pop3s (cert verified)" py "$CA" "
p = poplib.POP3_SSL('127.0.0.1', $DPS, context=ctx); p.user('bob'); p.pass_('secret'); p.quit()"
check "curl imap LIST" curl -m 20 -sSf "imap://127.0.0.1:$DV/" -u alice:secret
check "curl imap CRAM-MD5 FETCH" curl -m 20 -sSf "imap://127.0.0.1:$DV/INBOX;UID=1" -u alice:secret --login-options AUTH=CRAM-MD5
check "curl imap STARTTLS SEARCH" curl -m 20 -sSf --ssl-reqd --cacert "$CA" "imap://localhost:$DV/INBOX?ALL" -u alice:secret
check "curl imaps FETCH" curl -m 20 -sSf --cacert "$CA" "imaps://127.0.0.1:$DVS/INBOX;UID=1" -u alice:secret
check "curl pop3 APOP" curl -m 20 -sSf "pop3://127.0.0.1:$DP/1" -u alice:secret --login-options AUTH=+APOP
check "curl pop3s CRAM-MD5" curl -m 20 -sSf --cacert "$CA" "pop3s://127.0.0.1:$DPS/1" -u alice:secret --login-options AUTH=CRAM-MD5

echo "--- Postfix smtp-sink (SMTP and LMTP)"
check "smtplib x10 on one connection" py "$CA" "
s = smtplib.SMTP('127.0.0.1', $SINK)
for _ in range(10): s.sendmail('a@example.com', ['alice@example.com'], MSG)
s.quit()"
check "swaks" swaks -S 2 --server 127.0.0.1 --port "$SINK" --from a@example.com --to alice@example.com
check "curl smtp" sh -c "printf '$MSG' | curl -m 20 -sSf smtp://127.0.0.1:$SINK --mail-from a@example.com --mail-rcpt alice@example.com -T -"
check "smtp-source -m 100" smtp-source -s 2 -m 100 -l 1024 -f a@example.com -t alice@example.com "127.0.0.1:$SINK"
check "counters: 112 messages" sh -c "sleep 0.3; tr '\r' '\n' < '$W/sink/smtp-sink.out' | grep sess= | tail -n 1 | grep 'mesg=112$'"
check "lmtp smtplib.LMTP x2" py "$CA" "
l = smtplib.LMTP('127.0.0.1', $LSINK)
for _ in range(2): l.sendmail('a@example.com', ['alice@example.com'], MSG)
l.quit()"
check "lmtp swaks" swaks -S 2 --protocol LMTP --server 127.0.0.1 --port "$LSINK" --from a@example.com --to alice@example.com
check "lmtp counters: sess=2 quit=2 mesg=3" sh -c "sleep 0.3; tr '\r' '\n' < '$W/lsink/smtp-sink.out' | grep sess= | tail -n 1 | grep 'sess=2 quit=2 mesg=3$'"

echo "--- aiosmtpd (Maildir)"
check "smtplib STARTTLS (cert verified)" py "$W/aio/cert.pem" "
s = smtplib.SMTP('localhost', $AIO); s.starttls(context=ctx); s.sendmail('a@example.com', ['x@example.com', 'y@example.com'], MSG); s.quit()"
check "swaks STARTTLS" swaks -S 2 -tls --server 127.0.0.1 --port "$AIO" --from a@example.com --to x@example.com
check "curl smtp" sh -c "printf '$MSG' | curl -m 20 -sSf smtp://127.0.0.1:$AIO --mail-from a@example.com --mail-rcpt x@example.com -T -"
check "no AUTH offered without --auth" py "$W/aio/cert.pem" "
s = smtplib.SMTP('localhost', $AIO); s.starttls(context=ctx); s.ehlo(); assert not s.has_extn('auth'), s.esmtp_features"
check "3 messages stored, exact bytes, envelope" py "$W/aio/cert.pem" "
new = '$W/aio/maildir/new'; names = sorted(os.listdir(new)); assert len(names) == 3, names
first = open(os.path.join(new, names[0]), 'rb').read(); assert first == MSG, first
env = json.load(open('$W/aio/envelopes/' + names[0] + '.json'))
assert env['rcpt_tos'] == ['x@example.com', 'y@example.com'] and env['tls'] and env['mail_from'] == 'a@example.com', env"
check "--auth: no AUTH before STARTTLS, refused wrong password" py "$W/aio-auth/cert.pem" "
s = smtplib.SMTP('localhost', $AIOA); s.ehlo(); assert not s.has_extn('auth'), s.esmtp_features
s.starttls(context=ctx); s.ehlo(); assert 'PLAIN' in s.esmtp_features['auth'], s.esmtp_features
try: s.login('alice', 'wrong'); sys.exit('wrong password accepted')
except smtplib.SMTPAuthenticationError: pass"
check "--auth: swaks STARTTLS + AUTH LOGIN" swaks -S 2 -tls --server 127.0.0.1 --port "$AIOA" --auth LOGIN \
  --auth-user alice --auth-password secret --from a@example.com --to x@example.com
check "--auth: envelope records the login" sh -c "grep -q '\"auth\": \"alice\"' '$W'/aio-auth/envelopes/*.json"

echo "--- Twisted (SMTP in, IMAP and POP3 out)"
check "smtp STARTTLS + CRAM-MD5 + send" py "$TCA" "
s = smtplib.SMTP('localhost', $TS); s.starttls(context=ctx); s.ehlo()
s.user, s.password = 'alice', 'secret'; s.auth('CRAM-MD5', s.auth_cram_md5)
s.sendmail('a@example.com', ['alice@example.com'], MSG); s.quit()"
check "smtp unknown user refused" py "$TCA" "
s = smtplib.SMTP('127.0.0.1', $TS)
try: s.sendmail('a@example.com', ['nobody@example.com'], MSG); sys.exit('nobody accepted')
except smtplib.SMTPRecipientsRefused: pass"
check "swaks AUTH CRAM-MD5" swaks -S 2 --server 127.0.0.1 --port "$TS" --auth CRAM-MD5 --auth-user alice \
  --auth-password secret --from a@example.com --to alice@example.com
check "curl smtp" sh -c "printf '$MSG' | curl -m 20 -sSf smtp://127.0.0.1:$TS --mail-from a@example.com --mail-rcpt alice@example.com -T -"
check "imap CRAM-MD5 sees 3 + FETCH" py "$TCA" "
m = imaplib.IMAP4('127.0.0.1', $TI); m.login_cram_md5('alice', 'secret'); assert m.select()[1] == [b'3'], m.select()
assert b'\r\n.leading dot\r\n' in m.fetch('1', '(BODY.PEEK[])')[1][0][1]; m.fetch('1:*', '(ENVELOPE BODYSTRUCTURE FLAGS)')"
check "imap LOGINDISABLED before STARTTLS" py "$TCA" "
m = imaplib.IMAP4('127.0.0.1', $TI); assert 'LOGINDISABLED' in m.capabilities, m.capabilities"
check "imap STARTTLS + LOGIN + CREATE/APPEND/LIST" py "$TCA" "
m = imaplib.IMAP4('localhost', $TI); m.starttls(ctx); m.login('alice', 'secret')
m.create('Sent'); m.append('Sent', None, None, MSG); assert m.select('Sent')[1] == [b'1']
assert b'(\\\\HasNoChildren \\\\Sent) \"/\" \"Sent\"' in m.list()[1], m.list()"
check "imap SEARCH SUBJECT/SINCE/HEADER" py "$TCA" "
m = imaplib.IMAP4('127.0.0.1', $TI); m.login_cram_md5('alice', 'secret'); m.select()
assert m.search(None, 'SUBJECT', 'verify')[1] == [b'1 3'], m.search(None, 'SUBJECT', 'verify')  # 2 came from swaks
assert m.search(None, 'SINCE', '1-Jan-2020', 'HEADER', 'To', 'alice')[1] == [b'1 2 3']"
check "pop3 APOP + RETR" py "$TCA" "
p = poplib.POP3('127.0.0.1', $TP); p.apop('alice', 'secret'); assert p.stat()[0] == 3; assert b'.leading dot' in p.retr(3)[1]; p.quit()"
check "pop3 USER/PASS + AUTH PLAIN" py "$TCA" "
p = poplib.POP3('127.0.0.1', $TP); p.user('bob'); p.pass_('secret'); p.quit()
p = poplib.POP3('127.0.0.1', $TP); assert p._shortcmd('AUTH PLAIN AGFsaWNlAHNlY3JldA==').startswith(b'+OK'); p.quit()"
check "curl imap (AUTHENTICATE)" curl -m 20 -sSf "imap://127.0.0.1:$TI/INBOX;UID=2" -u alice:secret
check "curl pop3 (AUTH CRAM-MD5)" curl -m 20 -sSf "pop3://127.0.0.1:$TP/1" -u alice:secret

echo "--- stopping"
pids=$(cat "$W"/*/*.pid 2>/dev/null | tr '\n' ' ')
check "stop all" stop_all
check "every peer process gone" sh -c "for p in $pids; do s=\$(cat /proc/\$p/stat 2>/dev/null) || continue
  s=\${s##*) }; case \${s%% *} in Z|X) ;; *) echo \"pid \$p still running\"; exit 1;; esac; done"
check "second stop is a no-op" sh -c "'$here/dovecot.sh' stop '$W/dovecot' | grep -q 'not running'"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
