#!/bin/sh
# Writes mosquitto/passwd.dev: development credentials for compose.yaml and the simulator
# (gateways boomerang-gateway and boomerang-gateway-2, and compose's health check
# broker-healthcheck, password boomerang-dev; tags tag-0001..tag-0050, password sim-tag).
# Never use these anywhere that matters; see mosquitto/README.md for real credentials.
set -eu
out="$(dirname "$0")/passwd.dev"
: > "$out"
for account in boomerang-gateway boomerang-gateway-2 broker-healthcheck; do
  mosquitto_passwd -b "$out" "$account" boomerang-dev
done
i=1
while [ "$i" -le 50 ]; do
  mosquitto_passwd -b "$out" "$(printf 'tag-%04d' "$i")" sim-tag
  i=$((i + 1))
done
echo "wrote $out"
