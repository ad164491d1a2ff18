#!/usr/bin/env bash
# answer_echo.sh: what an ERROR's DETAIL repeats of an answer that is not a
# Zoho error envelope (security audit L4).  A hostile endpoint on loopback
# (any local service a server's api_domain may name) answers 500 with an
# HTML page, then with JSON holding control and non-ASCII characters: the
# page must not come back verbatim, and the JSON snippet only short and
# printable.
#
# Runs inside test/lib/with_cluster.sh.  Prints "N passed, N failed".
set -u
. "$(dirname "$0")/helpers.bash"

work=$(mktemp -d "$ZCRM_TEST_TMP/echo.XXXXXX")
chmod 755 "$work"
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill -TERM "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# the hostile endpoint: GET /mode/NAME picks the next answers
cat >"$work/hostile.py" <<'PY'
import http.server, sys
mode = ['html']
PAGES = {
    'html': ('text/html', b'<html><head><title>Internal admin</title></head><body>'
             b'<p>SECRET-PAGE-CONTENT api_key=abc123</p>' + b'x' * 400 + b'</body></html>'),
    'json': ('application/json', b'{"unexpected": "line1\\nline2", "ctl": "\x07\x1b[31m'
             + 'caf\u00e9'.encode() + b'", "more": "' + b'y' * 400 + b'"}'),
}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path.startswith('/mode/'):
            mode[0] = self.path[6:]
            self.send_response(200)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.answer()
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        self.answer()
    def answer(self):
        ctype, body = PAGES[mode[0]]
        self.send_response(500)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$work/hostile.py" >"$work/port" 2>"$work/hostile.err" &
srv_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(head -n 1 "$work/port")
url="http://127.0.0.1:$port"

psql -X -q -v ON_ERROR_STOP=1 -v url="$url" <<'SQL' >/dev/null
CREATE EXTENSION IF NOT EXISTS massupdate;
CREATE SERVER hostile FOREIGN DATA WRAPPER zcrm
	OPTIONS (api_domain :'url', accounts_url :'url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER hostile OPTIONS (access_token '1000.fixed');
SQL

call() {
	psql -X -v VERBOSITY=verbose -c "SELECT * FROM zcrm_mass_update('Leads', ARRAY[4150868000000224001], '{\"City\": \"x\"}')" 2>&1
}

curl -sS "$url/mode/html" >/dev/null
out=$(call)
echo "$out" | sed 's/^/  | /'
check "an HTML 500 fails with HV000" grep -q "ERROR:  HV000" <<<"$out"
check "the HTML page is not echoed" bash -c '! grep -qE "SECRET-PAGE-CONTENT|<html|<title" <<<"$1"' _ "$out"
check "the DETAIL says what came instead" grep -qE "DETAIL:  The answer was not a Zoho error envelope: [0-9]+ bytes of HTML" <<<"$out"

curl -sS "$url/mode/json" >/dev/null
out=$(call)
echo "$out" | sed 's/^/  | /'
detail=$(grep "DETAIL:" <<<"$out")
check "a JSON 500 is echoed in part" grep -q '"unexpected"' <<<"$detail"
check "no control or non-ASCII characters in the DETAIL" \
	bash -c '! LC_ALL=C grep -qP "[\x00-\x08\x0b-\x1f\x7f-\xff]" <<<"$1"' _ "$detail"
check "the snippet is short" test "${#detail}" -lt 200

summary
