"""A plain asyncio service with no async_auditor import and no framework:
`python zc_service.py PORT [asyncio|uvloop]`.  It answers HTTP/1.0-style
GET requests; /block holds the loop for 0.3 s."""

import asyncio
import sys
import time


def block():
    time.sleep(0.3)  # zero-code-service-block


async def handle(reader, writer):
    line = await reader.readline()
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass
    path = line.split()[1].decode() if len(line.split()) > 1 else "/"
    if path == "/block":
        block()
    body = b"ok\n"
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    port, impl = int(sys.argv[1]), sys.argv[2]
    if impl == "uvloop":
        import uvloop
        uvloop.run(main(port))
    else:
        asyncio.run(main(port))
