#!/usr/bin/env python3
"""A tiny HTTP endpoint for the README tour: prints every POST it gets (with its
Idempotency-Key) and answers 200. Usage: scripts/sink.py [PORT] (default 9090)."""
import http.server
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        key = self.headers.get("idempotency-key", "-")
        print(f"POST {self.path} idempotency-key={key} {body.decode(errors='replace')}", flush=True)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9090
print(f"listening on 127.0.0.1:{port}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()
