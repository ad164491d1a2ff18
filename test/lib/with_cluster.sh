#!/usr/bin/env bash
# with_cluster.sh CMD ARGS...: run a command with a throwaway cluster and
# sandbox (see common.sh for the environment it exports), then stop both.
set -u
. "$(dirname "$0")/common.sh"
zcrm_ensure_packages && zcrm_build_install || exit 1
zcrm_start_env || exit 1
"$@"
