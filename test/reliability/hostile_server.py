#!/usr/bin/env python3
"""A hostile CRM endpoint for test/reliability/hostile_answers.sh.

It stands for a compromised Zoho endpoint (security audit 1.0, M3 and M4):
mass-update POSTs get oversized answers.  Standard library only.

  hostile_server.py PORTFILE     listens on 127.0.0.1, port 0, writes the port

Mode (POST /__mode with a JSON object, GET /__stats for counts):
  {"mode": "flat400", "size": N}  HTTP 400, a flat INVALID_DATA envelope
                                  whose message is N bytes of random base64
  {"mode": "records", "size": N}  HTTP 200, one INVALID_DATA entry per id
                                  sent, naming it, with long messages: at
                                  most N bytes in all
"""
import base64
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {'mode': 'flat400', 'size': 1000000, 'calls': 0, 'sent_bytes': 0}
lock = threading.Lock()


def noise(n):
    """n bytes of random base64 text."""
    return base64.b64encode(os.urandom(n * 3 // 4 + 3)).decode()[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def answer(self, status, out):
        try:
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            with lock:
                state['sent_bytes'] += len(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what the cap should do

    def do_GET(self):
        with lock:
            out = json.dumps(state).encode()
        self.answer(200, out)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if self.path == '/__mode':
            with lock:
                state.update(json.loads(body))
            return self.answer(200, b'{"ok":true}')
        with lock:
            state['calls'] += 1
            mode, size = state['mode'], state['size']
        if mode == 'flat400':
            out = json.dumps({'code': 'INVALID_DATA', 'details': {},
                              'message': noise(size), 'status': 'error'})
            return self.answer(400, out.encode())
        ids = json.loads(body)['ids']
        entry = '{"code":"INVALID_DATA","details":{"id":"%s"},"message":"%s","status":"error"}'
        overhead = len('{"data":[]}') + sum(len(entry % (i, '')) + 1 for i in ids)
        filler = noise(max(1, (size - overhead) // len(ids)))
        out = '{"data":[' + ','.join(entry % (i, filler) for i in ids) + ']}'
        self.answer(200, out.encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # resets by a client that stopped reading are expected


def main():
    server = Server(('127.0.0.1', 0), Handler)
    with open(sys.argv[1] + '.tmp', 'w') as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + '.tmp', sys.argv[1])
    server.serve_forever()


if __name__ == '__main__':
    main()
