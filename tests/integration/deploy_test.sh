#!/bin/sh
# deploy_test.sh — compose, image layout, example configs, systemd units, make run.
exec python3 "$(dirname "$0")/deploy_test.py"
