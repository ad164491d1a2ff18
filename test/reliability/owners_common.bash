# Shared by supersede_owners.sh, prepared_order.sh and orphan_owner.sh
# (sourced, not run, after helpers.bash): settings, sandbox record and
# request-log readers, and sessions kept open beside the script's own.

# setting NAME VALUE: ALTER SYSTEM SET massupdate.NAME (RESET without a
# value) and reload; the worker takes it within a moment
setting() {
	if [ $# -gt 1 ]; then
		q "ALTER SYSTEM SET massupdate.$1 = '$2'"
	else
		q "ALTER SYSTEM RESET massupdate.$1"
	fi
	q "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
}

# crm_field RECORD FIELD: the sandbox Lead's value of FIELD ("None" if unset)
crm_field() {
	sbx_get "records/Leads/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['record'].get('$2'))"
}

# sbx_calls RECORD FIELD VALUE: the mass-update requests of the sandbox's
# log whose ids hold RECORD and whose data sets FIELD to the string VALUE,
# one line each, oldest first: "seq status client_id"
sbx_calls() {
	sbx_get 'requests?limit=100000' | python3 -c '
import json, sys
rid, field, value = sys.argv[1], sys.argv[2], sys.argv[3]
for r in json.load(sys.stdin)["requests"]:
    if r["method"] != "POST" or not r["path"].endswith("/actions/mass_update"):
        continue
    try:
        b = json.loads(r["body"])
    except ValueError:
        continue
    if not isinstance(b, dict) or rid not in [str(i) for i in b.get("ids") or []]:
        continue
    d = b.get("data") or [{}]
    if isinstance(d, list) and d and isinstance(d[0], dict) and d[0].get(field) == value:
        print(r["seq"], r["status"], r["client_id"])
' "$1" "$2" "$3"
}

# first_ok_seq RECORD FIELD VALUE: seq of the first such request answered
# 200 (empty if none)
first_ok_seq() { sbx_calls "$1" "$2" "$3" | awk '$2 == 200 { print $1; exit }'; }
# last_ok_seq RECORD FIELD VALUE: seq of the last such request answered 200
last_ok_seq() { sbx_calls "$1" "$2" "$3" | awk '$2 == 200 { s = $1 } END { print s }'; }
# sbx_last_seq: the highest seq in the sandbox's log (0 if empty)
sbx_last_seq() {
	sbx_get 'requests?limit=1' | python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
print(r[-1]["seq"] if r else 0)'
}

# outbox_rows WHERE: the rows, for the log on failure
outbox_rows() {
	psql -X -P pager=off -c "SELECT id, owner, record_id, field, value, state, attempts, code, left(message, 120) AS message, sent_at FROM zcrm_outbox WHERE $1 ORDER BY id"
}

# open_session, say, await, close_session: in helpers.bash
