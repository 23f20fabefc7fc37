#!/bin/sh
# Container entrypoint: check the config, then become handoff (exec), so
# that handoff is PID 1: docker stop's SIGTERM reaches it (a graceful
# stop, exit 0), every orphan in the container is reaped by it, and its
# exit status (1: it could not start) is the container's.
# HANDOFF_CONFIG=FILE runs another config; the CLI does not read that
# variable, so name the file there too: docker exec C handoff reload -c FILE.
set -e
config=${HANDOFF_CONFIG:-/etc/handoff/handoff.ini}
handoff check -c "$config"
exec handoff run -c "$config"
