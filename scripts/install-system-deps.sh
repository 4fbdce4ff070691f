#!/usr/bin/env bash
# Installs the real servers the integration tests run against: Prometheus (with
# promtool) and VictoriaMetrics, from Debian's packages. Does nothing when they
# are already there; explains what to do when it cannot install them.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
if [ ${#need[@]} -eq 0 ]; then
  echo "system deps: prometheus, promtool and victoria-metrics are installed"
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
  echo "system deps: missing $pkgs; integration tests will be skipped."
  echo "  Debian/Ubuntu: sudo apt-get install -y prometheus victoria-metrics"
  echo "  elsewhere: put prometheus, promtool and victoria-metrics (single node) on PATH"
  if [ -n "${CI:-}" ]; then
    echo "system deps: CI is set and the servers are missing" >&2
    exit 1
  fi
fi
