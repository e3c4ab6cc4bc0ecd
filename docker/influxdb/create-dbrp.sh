#!/bin/sh
# Runs once, when the InfluxDB 2 container initialises its data volume (after the setup made
# by DOCKER_INFLUXDB_INIT_*): maps the InfluxQL database/retention policy repoclimate queries
# (`repoclimate`/`autogen`) to the bucket, so /query serves the dashboards and the service.
set -eu
bucket_id=$(influx bucket list --org "$DOCKER_INFLUXDB_INIT_ORG" --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f 1)
influx v1 dbrp create --org "$DOCKER_INFLUXDB_INIT_ORG" --db "$DOCKER_INFLUXDB_INIT_BUCKET" --rp autogen --bucket-id "$bucket_id" --default
