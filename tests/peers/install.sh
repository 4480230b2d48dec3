#!/usr/bin/env bash
# Installs every real peer the interop tests and tests/peers/*.sh use, idempotently and without
# questions, on Debian 12 (as root, or through sudo). Installs only what is missing; a second run is quick.
#   Debian: dovecot-imapd dovecot-pop3d dovecot-lmtpd (IMAP, POP3, LMTP), postfix (smtp-sink, smtp-source),
#   postgresql (the postgres store's database, started per test by tests/peers/postgres.sh),
#           swaks + libnet-ssleay-perl (swaks' STARTTLS), curl, fetchmail, isync (mbsync), getmail6,
#           offlineimap3, neomutt + tmux (neomutt driven in a tmux pane),
#           openssl (certificates), iproute2 (ss: which pid listens), python3 + python3-pip,
#           chromium + chromium-driver (the web page's browser test, driven over WebDriver)
#   PyPI:   aiosmtpd, twisted[tls] (pyOpenSSL for STARTTLS), imapclient, selenium (WebDriver client)
# Usage: tests/peers/install.sh [--check]   (--check only reports what is missing, exit 1 if anything is)
set -euo pipefail

APT_PACKAGES=(dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix swaks libnet-ssleay-perl curl fetchmail
  isync getmail6 offlineimap3 neomutt tmux openssl iproute2 python3 python3-pip chromium chromium-driver
  postgresql util-linux)
PIP_PACKAGES=(aiosmtpd 'twisted[tls]' imapclient selenium)
PY_MODULES="aiosmtpd, twisted.mail, imapclient, OpenSSL, selenium"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -E "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  # python3 may come from elsewhere (pyenv, a venv): only install Debian's if there is none at all.
  case "$p" in
    python3) command -v python3 >/dev/null && continue ;;
    python3-pip) command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 && continue ;;
  esac
  installed "$p" || missing+=("$p")
done
py_ok() { command -v python3 >/dev/null && python3 -c "import $PY_MODULES" 2>/dev/null; }

if [ "${1:-}" = --check ]; then
  bad=0
  [ ${#missing[@]} -eq 0 ] || { echo "missing Debian packages: ${missing[*]}"; bad=1; }
  py_ok || { echo "missing Python modules (one of: $PY_MODULES): pip install ${PIP_PACKAGES[*]}"; bad=1; }
  [ "$bad" = 0 ] && echo "all peers installed"
  exit "$bad"
fi

if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "install.sh: run as root, or install sudo" >&2; exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks how to deliver mail on install: "No configuration" (nothing here sends mail anywhere).
  echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
  as_root apt-get update -qq
  log=$(mktemp -t mailwire-peers-apt.XXXXXX)
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" > "$log" 2>&1 ||
    { tail -n 30 "$log" >&2; echo "install.sh: apt-get install failed (full log: $log)" >&2; exit 1; }
  rm -f "$log"
  # Debian starts the system daemons where it can; the tests start their own on 127.0.0.1, so stop
  # the ones this run just installed (never one that was there before).
  for svc in dovecot postfix postgresql; do
    case " ${missing[*]} " in *" $svc"*) as_root service "$svc" stop >/dev/null 2>&1 || true ;; esac
  done
fi
for p in "${APT_PACKAGES[@]}"; do
  case "$p" in python3|python3-pip) continue ;; esac
  installed "$p" || { echo "install.sh: Debian package $p failed to install" >&2; exit 1; }
done

if ! py_ok; then
  echo "install.sh: installing PyPI packages: ${PIP_PACKAGES[*]}"
  pip=(python3 -m pip install -q --disable-pip-version-check)
  # Debian's own python3 is "externally managed" (PEP 668): pip needs explicit permission there.
  if ! out=$("${pip[@]}" "${PIP_PACKAGES[@]}" 2>&1); then
    if grep -q externally-managed <<< "$out"; then
      "${pip[@]}" --break-system-packages "${PIP_PACKAGES[@]}"
    else
      echo "$out" >&2; echo "install.sh: pip install failed" >&2; exit 1
    fi
  fi
  py_ok || { echo "install.sh: python3 still cannot import $PY_MODULES" >&2; exit 1; }
fi
echo "install.sh: all peers installed"
