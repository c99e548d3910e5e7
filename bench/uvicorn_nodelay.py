"""uvicorn's command line, with the listener it binds for --workers N
created as a TCP socket (proto IPPROTO_TCP).

uvicorn's Config.bind_socket() leaves proto at 0; accepted connections
inherit it, and asyncio turns TCP_NODELAY on only for proto
IPPROTO_TCP. So under --workers N every keep-alive response waits for
the client's delayed ACK (~40 ms on Linux: Kludex/uvicorn#3149), and a
several-worker throughput run measures that wait, not CPU: 716 requests/s
with 4 workers against 5389 with 1 on this VM. The benchmarks that run
several workers start uvicorn through this module.

    python bench/uvicorn_nodelay.py APP [uvicorn options]
"""

import socket
import sys

import uvicorn.config
import uvicorn.main

_bind_socket = uvicorn.config.Config.bind_socket


def bind_socket(self):
    sock = _bind_socket(self)
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP,
                             fileno=sock.detach())
    return sock


uvicorn.config.Config.bind_socket = bind_socket

if __name__ == "__main__":
    sys.exit(uvicorn.main.main())
