"""The corpus's slow upstream: the HTTP APIs the corpus services call
(pricing, auth, weather, a log collector), all served by one standard
library ThreadingHTTPServer on loopback that answers after a delay, as a
real dependency on the other side of a network does.

    python lab/corpus/_upstream.py --port 8081 [--delay 0.1]

lab/run --scorecard starts it when a service declares "upstream" in its
EXPECT["needs"] and passes its URL in $UPSTREAM_URL.  It is not a corpus
service (no EXPECT), just the far end of the client libraries.

Delays by path: /auth/... answers after 0.25 s (a slow identity
provider), /logs after 0.05 s (a log collector), everything else after
--delay.  GET answers a small JSON document; POST reads its body first.
"""

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_PREFIXES = (("/auth/", 0.25), ("/logs", 0.05))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_delay = 0.1

    def _delay(self):
        for prefix, seconds in SLOW_PREFIXES:
            if self.path.startswith(prefix):
                return seconds
        return self.default_delay

    def _answer(self):
        time.sleep(self._delay())
        body = json.dumps({"ok": True, "path": self.path, "price": 19.9,
                           "user": "alice", "temperature_c": 11.5}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._answer()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer()

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay", type=float, default=0.1)
    args = ap.parse_args()
    Handler.default_delay = args.delay
    server = Server((args.host, args.port), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
