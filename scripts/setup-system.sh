#!/usr/bin/env bash
# Installs the Debian packages the tests run against: Mosquitto (broker and clients), InfluxDB and
# PostgreSQL (the alert state's second backend), Chromium (the pages' tests, and the reports' fast
# PDF engine: reports.pdf_engine), Noto CJK fonts, Pango (WeasyPrint, the reports' fallback PDF
# engine) and poppler (the reports' tests).
# Idempotent: installs only what is missing. The packages' own services are never used; the tests
# start private servers on free loopback ports.
set -euo pipefail

needed=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || needed+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || needed+=(mosquitto-clients)
command -v influxd >/dev/null 2>&1 || needed+=(influxdb)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || needed+=(postgresql)
# Debian's Chromium: the pages' browser tests (tests/app/web) and the reports' PDFs (reports/pdf.py);
# CJK fonts for the Chinese pages and reports.
[ -x /usr/bin/chromium ] || needed+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] && compgen -G "/usr/share/fonts/opentype/noto/NotoSansCJK*" >/dev/null || needed+=(fonts-noto-cjk)
# The reports (reports/): WeasyPrint lays out PDFs with Pango; the tests read them with poppler.
compgen -G "/usr/lib/*/libpango-1.0.so.0" >/dev/null || needed+=(libpango-1.0-0)
compgen -G "/usr/lib/*/libpangoft2-1.0.so.0" >/dev/null || needed+=(libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || needed+=(poppler-utils)

if [ ${#needed[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup-system: installing ${needed[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi
