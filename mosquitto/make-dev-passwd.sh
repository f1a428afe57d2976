#!/bin/sh
# Writes mosquitto/passwd.dev: development credentials for compose.yaml and the simulator
# (user boomerang-gateway, password boomerang-dev; tags tag-0001..tag-0050, password sim-tag).
# Never use these anywhere that matters; see mosquitto/README.md for real credentials.
set -eu
out="$(dirname "$0")/passwd.dev"
: > "$out"
mosquitto_passwd -b "$out" boomerang-gateway boomerang-dev
i=1
while [ "$i" -le 50 ]; do
  mosquitto_passwd -b "$out" "$(printf 'tag-%04d' "$i")" sim-tag
  i=$((i + 1))
done
echo "wrote $out"
