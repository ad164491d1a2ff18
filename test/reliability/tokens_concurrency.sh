#!/usr/bin/env bash
# tokens_concurrency.sh: twenty backends that need a token for the same user
# mapping at the same moment, on a cold cache, cause exactly one token
# request (DESIGN 3: at most one refresh per mapping in flight).
#
# Runs inside test/lib/with_cluster.sh (PGHOST, PGPORT, PGDATABASE,
# ZCRM_SANDBOX_BIN, ZCRM_TEST_TMP).  Starts its own sandbox and stops it.
# Prints "N passed, N failed".
set -u
N=${ZCRM_TOKEN_BACKENDS:-20}
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
notok() { failed=$((failed + 1)); echo "not ok - $*"; }

work=$(mktemp -d "${ZCRM_TEST_TMP:-/tmp}/tokens.XXXXXX")
chmod 777 "$work"
sandbox_pid=
relay_pid=
cleanup() {
	[ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
	[ -n "$sandbox_pid" ] && kill -TERM "$sandbox_pid" 2>/dev/null && wait "$sandbox_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

export PGOPTIONS="-c client_min_messages=warning"
psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# a sandbox of our own, so its counters are ours alone
"$ZCRM_SANDBOX_BIN" --port 0 >"$work/sandbox.out" 2>"$work/sandbox.err" </dev/null &
sandbox_pid=$!
url=
for _ in $(seq 200); do
	url=$(head -n 1 "$work/sandbox.out" 2>/dev/null | sed -n 's/^zcrm-sandbox listening on //p')
	[ -n "$url" ] && break
	sleep 0.02
done
if [ -z "$url" ]; then
	notok "sandbox started"
	echo "$passed passed, $failed failed"
	exit 1
fi
# The token endpoint, slowed down by a relay so that all the backends ask
# while the first request is still in flight.
cat >"$work/relay.py" <<'PY'
import http.server, sys, time, urllib.request
target = sys.argv[1]
class Relay(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        time.sleep(0.5)
        req = urllib.request.Request(target + self.path, data=body, method='POST',
            headers={'Content-Type': self.headers.get('Content-Type', '')})
        with urllib.request.urlopen(req) as r:
            data = r.read()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Relay)
print('http://127.0.0.1:%d' % srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$work/relay.py" "$url" >"$work/relay.out" 2>"$work/relay.err" &
relay_pid=$!
relay=
for _ in $(seq 200); do
	relay=$(head -n 1 "$work/relay.out" 2>/dev/null)
	[ -n "$relay" ] && break
	sleep 0.02
done
[ -n "$relay" ] || { notok "relay started"; echo "$passed passed, $failed failed"; exit 1; }

stats() { curl -sS "$url/__sandbox/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

psql_q <<SQL || { notok "setup"; echo "$passed passed, $failed failed"; exit 1; }
CREATE EXTENSION IF NOT EXISTS massupdate;
DROP SERVER IF EXISTS ztokconc CASCADE;
CREATE SERVER ztokconc FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url '$relay', api_domain '$url');
CREATE USER MAPPING FOR CURRENT_USER SERVER ztokconc
	OPTIONS (client_id '1000.SANDBOX', client_secret 'sandbox-secret', refresh_token '1000.sandbox.refresh');
SQL

# The barrier: one session holds an advisory lock until all N backends wait
# on it, then lets them go at once.
key=731905
psql_q -c "DO \$\$
BEGIN
	PERFORM pg_advisory_lock($key);
	FOR i IN 1..600 LOOP
		EXIT WHEN (SELECT count(*) FROM pg_locks
				   WHERE locktype = 'advisory' AND objid = $key AND NOT granted) >= $N;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
\$\$" >"$work/barrier.out" 2>&1 &
barrier=$!
for _ in $(seq 200); do
	held=$(psql_q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $key AND granted")
	[ "$held" = 1 ] && break
	sleep 0.02
done

pids=()
for i in $(seq "$N"); do
	psql_q -c "SELECT pg_advisory_lock_shared($key) IS NULL" \
		-c "SELECT count(*) FILTER (WHERE status = 'success') FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{\"City\":\"Concurrent $i\"}', server => 'ztokconc')" \
		>"$work/b$i.out" 2>&1 &
	pids+=($!)
done
wait "$barrier"
bad=0
for i in $(seq "$N"); do
	wait "${pids[$((i - 1))]}" || bad=$((bad + 1))
done

[ "$bad" -eq 0 ] && ok "$N backends ran their call" || { notok "$bad of $N backends failed"; cat "$work"/b*.out | sort | uniq -c | head; }
succeeded=$(cat "$work"/b*.out | grep -c '^1$')
[ "$succeeded" -eq "$N" ] && ok "$N calls succeeded" || notok "$succeeded of $N calls succeeded"
tr=$(stats token_requests)
[ "$tr" = 1 ] && ok "exactly one token request for $N cold backends" || notok "token requests: $tr (want 1)"
ti=$(stats tokens_issued)
[ "$ti" = 1 ] && ok "exactly one token issued" || notok "tokens issued: $ti (want 1)"
calls=$(stats mass_update_calls)
[ "$calls" = "$N" ] && ok "$N mass-update calls" || notok "mass-update calls: $calls (want $N)"

# They waited for the one request rather than failing or asking again.
slow=$(grep -c . "$work/relay.err")
[ "$slow" = 0 ] && ok "relay saw no errors" || notok "relay errors: $(head -c 300 "$work/relay.err")"

# A second round on the warm cache asks for nothing.
pids=()
for i in $(seq "$N"); do
	psql_q -c "SELECT count(*) FROM zcrm_mass_update('Leads', ARRAY[4150868000000224002]::bigint[], '{\"City\":\"Warm\"}', server => 'ztokconc')" >"$work/w$i.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
tr=$(stats token_requests)
[ "$tr" = 1 ] && ok "warm cache: still one token request" || notok "warm cache: token requests $tr (want 1)"

# A refresh cancelled by statement_timeout leaves nothing behind: the next
# call refreshes at once instead of waiting for the dead refresh.
psql_q <<SQL || notok "setup of the cancel case"
CREATE SERVER ztokcancel FOREIGN DATA WRAPPER zcrm OPTIONS (accounts_url '$relay', api_domain '$url');
CREATE USER MAPPING FOR CURRENT_USER SERVER ztokcancel
	OPTIONS (client_id '1000.SANDBOX2', client_secret 'sandbox-secret-2', refresh_token '1000.sandbox2.refresh');
SQL
start=$(date +%s%N)
err=$(psql_q -c "SET statement_timeout = '200ms'" \
	-c "SELECT count(*) FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{\"City\":\"Cancel\"}', server => 'ztokcancel')" 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
case "$err" in
*"canceling statement due to statement timeout"*) ok "token request cancelled by statement_timeout" ;;
*) notok "token request not cancelled: $err" ;;
esac
[ "$ms" -lt 1000 ] && ok "cancelled in $ms ms" || notok "cancel took $ms ms"
start=$(date +%s%N)
n=$(psql_q -c "SELECT count(*) FILTER (WHERE status = 'success') FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001]::bigint[], '{\"City\":\"After\"}', server => 'ztokcancel')" 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$n" = 1 ] && ok "next call succeeds" || notok "next call: $n"
[ "$ms" -lt 3000 ] && ok "next call did not wait for the cancelled refresh ($ms ms)" || notok "next call took $ms ms"

psql_q -c "DROP SERVER ztokconc CASCADE" -c "DROP SERVER ztokcancel CASCADE" >/dev/null || notok "cleanup"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
