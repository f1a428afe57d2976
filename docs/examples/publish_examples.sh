#!/bin/sh
# Publishes each example payload of docs/tags.md the way a tag (or a bridge) would.
# BROKER_HOST, BROKER_PORT: the broker; TAG and TAG_PASSWORD: a tag's login (its tag id);
# OWNTRACKS_USER / OWNTRACKS_PASSWORD and TTS_USER / TTS_PASSWORD: the other logins, TTS_USER
# a The Things Stack application's account, {app}@{tenant} (returns@ttn, say).
set -eu
here="$(dirname "$0")"
host="${BROKER_HOST:-127.0.0.1}"
port="${BROKER_PORT:-1883}"
pub() { mosquitto_pub -h "$host" -p "$port" -q 1 -V mqttv5 "$@"; }

# The native format: one reading, then a batch (at most 1000 readings, 256 KiB).
pub -u "$TAG" -P "$TAG_PASSWORD" -t "tags/$TAG/telemetry" -f "$here/reading.json"
pub -u "$TAG" -P "$TAG_PASSWORD" -t "tags/$TAG/telemetry" -f "$here/batch.json"
# The tag's status, retained, as its last will would be.
pub -u "$TAG" -P "$TAG_PASSWORD" -t "tags/$TAG/status" -r -m online
# OwnTracks: user/device; the tag id is "user-device".
pub -u "$OWNTRACKS_USER" -P "$OWNTRACKS_PASSWORD" -t "owntracks/$OWNTRACKS_USER/phone" \
    -f "$here/owntracks.json"
# The Things Stack v3 uplink, as a bridge republishes it under its application's account;
# the tag id is the device id.
pub -u "$TTS_USER" -P "$TTS_PASSWORD" -t "v3/$TTS_USER/devices/pallet-0042/up" \
    -f "$here/things_stack.json"
