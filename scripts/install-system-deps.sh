#!/usr/bin/env bash
# Installs the real programs the integration tests run against: Prometheus (with
# promtool), VictoriaMetrics and Chromium (the rendered reports are opened in it
# with the network off), from Debian's packages. Does nothing when they are
# already there; explains what to do when it cannot install them.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "system deps: prometheus, promtool, victoria-metrics and chromium are installed"
  exit 0
fi
pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system deps: installing $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  # The Debian packages may start services; the tests start their own servers.
  for svc in prometheus victoria-metrics; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
  done
else
  echo "system deps: missing $pkgs; the tests that need them will be skipped."
  echo "  Debian/Ubuntu: sudo apt-get install -y prometheus victoria-metrics chromium"
  echo "  elsewhere: put prometheus, promtool, victoria-metrics (single node) and chromium on PATH"
  if [ -n "${CI:-}" ]; then
    echo "system deps: CI is set and $pkgs are missing" >&2
    exit 1
  fi
fi
