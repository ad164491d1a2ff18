#!/usr/bin/env bash
# Shared helpers of the test runner, the demo and the benchmarks: install
# what is missing, build, and start/stop a throwaway cluster and sandbox.
# Source it; every function is safe to call again.

ZCRM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ZCRM_PACKAGES="build-essential postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev curl python3 procps"

# zcrm_ensure_packages: install missing Debian packages when root, else
# print the exact apt-get line and fail.
zcrm_ensure_packages() {
	local missing=() p
	for p in $ZCRM_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ZCRM_PG_COPY=DIR: build, install and run against a private copy of the
# PostgreSQL install made in DIR (once), so that several checkouts can run
# their tests side by side without installing over each other.  PostgreSQL
# finds its libraries and share files relative to its binaries, so a copy
# of the three trees works as it stands.
if [ -n "${ZCRM_PG_COPY:-}" ]; then
	if [ ! -x "$ZCRM_PG_COPY/usr/lib/postgresql/15/bin/pg_config" ]; then
		mkdir -p "$ZCRM_PG_COPY/usr/lib/postgresql" "$ZCRM_PG_COPY/usr/share/postgresql" "$ZCRM_PG_COPY/usr/include"
		cp -a /usr/lib/postgresql/15 "$ZCRM_PG_COPY/usr/lib/postgresql/" &&
			cp -a /usr/share/postgresql/15 "$ZCRM_PG_COPY/usr/share/postgresql/" &&
			cp -a /usr/include/postgresql "$ZCRM_PG_COPY/usr/include/" ||
			echo "could not copy PostgreSQL into $ZCRM_PG_COPY" >&2
	fi
	export PG_CONFIG=$ZCRM_PG_COPY/usr/lib/postgresql/15/bin/pg_config
fi

zcrm_pg_config() { "${PG_CONFIG:-pg_config}" "$@"; }
zcrm_pg_bindir() { zcrm_pg_config --bindir; }

# as_postgres CMD...: run as the postgres OS user, from a directory it may enter
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# zcrm_build_install: build the extension and the sandbox, install the extension.
zcrm_build_install() {
	make -C "$ZCRM_ROOT" -s -j2 >/dev/null && make -C "$ZCRM_ROOT" -s install >/dev/null
}

# zcrm_start_env: make a private temp dir, start the sandbox (default
# fixture) and a cluster with massupdate preloaded; export PGHOST, PGPORT,
# PGUSER, PGDATABASE, ZCRM_SANDBOX_URL, ZCRM_SANDBOX_BIN, ZCRM_TEST_TMP.
# Extra sandbox flags come from $ZCRM_SANDBOX_ARGS.
zcrm_start_env() {
	ZCRM_TEST_TMP=$(mktemp -d /tmp/massupdate-test.XXXXXX)
	export ZCRM_TEST_TMP
	trap zcrm_stop_env EXIT
	trap 'exit 130' INT TERM
	# the checkout may sit under a 0700 home: give postgres its own copy
	# of the sandbox and its fixture (found relative to the executable)
	mkdir -p "$ZCRM_TEST_TMP/bin/sandbox" "$ZCRM_TEST_TMP/bin/fixtures" "$ZCRM_TEST_TMP/sandboxes"
	cp "$ZCRM_ROOT/test/sandbox/zcrm-sandbox" "$ZCRM_TEST_TMP/bin/sandbox/"
	cp "$ZCRM_ROOT/test/fixtures/sandbox.json" "$ZCRM_TEST_TMP/bin/fixtures/"
	export ZCRM_SANDBOX_BIN=$ZCRM_TEST_TMP/bin/sandbox/zcrm-sandbox
	chown -R postgres:postgres "$ZCRM_TEST_TMP"
	chmod 700 "$ZCRM_TEST_TMP"

	ZCRM_SANDBOX_URL=$(zcrm_start_sandbox main ${ZCRM_SANDBOX_ARGS:-}) || return 1
	export ZCRM_SANDBOX_URL

	local bindir data sock
	bindir=$(zcrm_pg_bindir)
	data=$ZCRM_TEST_TMP/data
	sock=$ZCRM_TEST_TMP/sock
	mkdir -p "$sock" && chown postgres:postgres "$sock"
	as_postgres "$bindir/initdb" -D "$data" -E UTF8 --locale=C.UTF-8 -A trust -U postgres >"$ZCRM_TEST_TMP/initdb.log" 2>&1 || { cat "$ZCRM_TEST_TMP/initdb.log"; return 1; }
	cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$sock'
port = 5432
fsync = off
synchronous_commit = on
shared_preload_libraries = 'massupdate'
massupdate.database = 'regression'
max_connections = 60
lc_messages = 'C'
log_line_prefix = '%m [%p] %b '
massupdate_test.sandbox_url = '$ZCRM_SANDBOX_URL'
massupdate_test.sandbox_bin = '$ZCRM_SANDBOX_BIN'
massupdate_test.tmpdir = '$ZCRM_TEST_TMP'
CONF
	# ZCRM_SERVER_ENV: NAME=VALUE words for the server's environment
	# (test/lib/asan.sh preloads libasan this way)
	as_postgres env ${ZCRM_SERVER_ENV:-} "$bindir/pg_ctl" -D "$data" -l "$ZCRM_TEST_TMP/pg.log" -w -t 30 start >/dev/null || { cat "$ZCRM_TEST_TMP/pg.log"; return 1; }
	export PGHOST=$sock PGPORT=5432 PGUSER=postgres PGDATABASE=regression
	"$bindir/createdb" regression
}

# zcrm_start_sandbox NAME [FLAGS...]: start a sandbox as postgres, print its URL.
zcrm_start_sandbox() {
	local name=$1 out i url
	shift
	out=$ZCRM_TEST_TMP/sandboxes/$name
	(cd / && exec runuser -u postgres -- setsid "$ZCRM_SANDBOX_BIN" --port 0 "$@" >"$out.out" 2>"$out.err" </dev/null) &
	echo $! >"$out.pid"
	for i in $(seq 200); do
		url=$(head -n 1 "$out.out" 2>/dev/null | sed -n 's/^zcrm-sandbox listening on //p')
		[ -n "$url" ] && { echo "$url"; return 0; }
		sleep 0.02
	done
	echo "sandbox $name did not start:" >&2
	cat "$out.err" >&2
	return 1
}

# zcrm_stop_env: stop the cluster and every sandbox, remove the temp dir.
zcrm_stop_env() {
	local rc=$? pidfile pid
	[ -n "${ZCRM_TEST_TMP:-}" ] && [ -d "$ZCRM_TEST_TMP" ] || return $rc
	if [ -f "$ZCRM_TEST_TMP/data/postmaster.pid" ]; then
		as_postgres "$(zcrm_pg_bindir)/pg_ctl" -D "$ZCRM_TEST_TMP/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
			as_postgres "$(zcrm_pg_bindir)/pg_ctl" -D "$ZCRM_TEST_TMP/data" -m immediate -w stop >/dev/null 2>&1
	fi
	for pidfile in "$ZCRM_TEST_TMP"/sandboxes/*.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		kill -TERM "$pid" 2>/dev/null
	done
	for pidfile in "$ZCRM_TEST_TMP"/sandboxes/*.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
		kill -KILL "$pid" 2>/dev/null
	done
	if [ -n "${ZCRM_KEEP_TMP:-}" ]; then
		echo "kept $ZCRM_TEST_TMP" >&2
	else
		rm -rf "$ZCRM_TEST_TMP"
	fi
	ZCRM_TEST_TMP=
	return $rc
}
