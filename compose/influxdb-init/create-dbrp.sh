#!/bin/bash
# Runs once, inside the influxdb:2.x container, on the first start of an empty data volume
# (the image runs executable *.sh files in /docker-entrypoint-initdb.d after its automated
# setup; they do not run again once /var/lib/influxdb2/influxd.bolt exists).
#
# Maps the InfluxDB 1.x database/retention policy `boomerang`/`autogen` to the setup bucket,
# so that InfluxQL (Grafana's "Boomerang InfluxDB" data source, and the v1 /query and /write
# endpoints) reach the same data as the gateway's v2 writes. InfluxDB 2.7 also offers a
# read-only "virtual" mapping for a bucket named `boomerang`; this explicit one is shown by
# `influx v1 dbrp list` and keeps working if the bucket is given another name.
#
# The image exports DOCKER_INFLUXDB_INIT_BUCKET_ID (and _ORG_ID, _USER_ID), INFLUX_HOST (the
# temporary setup server) and INFLUX_CONFIGS_PATH (CLI config written by setup, holding the
# admin token) before running this script, so the `influx` CLI needs no token here.
set -euo pipefail

# Same name and default as the gateway's BOOMERANG_INFLUX_DB (CONTRACT.md section 6).
db="${BOOMERANG_INFLUX_DB:-boomerang}"
rp=autogen

influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${db}" \
  --rp "${rp}" \
  --default

echo "create-dbrp.sh: mapped ${db}/${rp} -> bucket ${DOCKER_INFLUXDB_INIT_BUCKET} (${DOCKER_INFLUXDB_INIT_BUCKET_ID})"
