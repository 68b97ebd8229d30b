"""Inside a sandbox with ``--allow-host``: ``127.0.0.1:<port>`` relayed to the host's egress proxy.

The worker's network namespace has only loopback; the host's proxy (``egress.py``)
listens on a Unix socket bound read-only into the sandbox. Programs that honour
``HTTP_PROXY``/``HTTPS_PROXY`` (urllib, requests, httpx, curl, pip) want a TCP
address, so this thread listens on one and pipes each connection to that socket.
It decides nothing: the proxy on the host does.

Standard library only; the worker loads it by path, and only for sessions with
``--allow-host``, so no other worker imports asyncio for it.
"""

from __future__ import annotations

import asyncio
import functools
import threading

_CHUNK = 1 << 16


def start(socket_path: str, port: int) -> None:
    """Listen on ``127.0.0.1:port`` on a daemon thread; ``OSError`` if that cannot be done."""
    ready = threading.Event()
    failed: list[BaseException] = []
    thread = threading.Thread(
        target=_serve, args=(socket_path, port, ready, failed), name="codemode-egress-relay", daemon=True
    )
    thread.start()
    ready.wait()
    if failed:
        raise failed[0]


def _serve(socket_path: str, port: int, ready: threading.Event, failed: list[BaseException]) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.start_server(functools.partial(_relay, socket_path), "127.0.0.1", port))
    except BaseException as exc:  # noqa: BLE001 - start() raises it in the worker's main thread
        failed.append(exc)
        return
    finally:
        ready.set()
    loop.run_forever()


async def _relay(socket_path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        proxy_reader, proxy_writer = await asyncio.open_unix_connection(socket_path)
    except OSError:
        writer.close()
        return
    try:
        await asyncio.gather(_copy(reader, proxy_writer), _copy(proxy_reader, writer))
    finally:
        writer.close()
        proxy_writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until ``reader`` ends, then half-close ``writer``; on an error close it (the other way ends too)."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()
