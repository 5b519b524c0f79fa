"""Shared test helpers: waiting on a condition with a deadline, running the CLI, and a
cuttable TCP hop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`stockledger ARGS` in a process of its own, with these STOCKLEDGER_* settings (and a
    wide console, quiet logs); it returns when the command exits."""
    merged = {**os.environ, "STOCKLEDGER_LOG_LEVEL": "WARNING", "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "stockledger.cli", *args],
        env=merged,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float = 10,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {within} s (last: {result!r})")
        await asyncio.sleep(interval)


class TcpProxy:
    """A real TCP hop in front of a server that a test can cut and restore (same port)."""

    def __init__(self, host: str, port: int, listen_port: int = 0) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = listen_port  # 0: a free one, chosen at the first start()
        self.pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.pipes):
            writer.close()
        self.pipes.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def edit_events(conn: Any, *statements: tuple[Any, ...]) -> None:
    """What a database superuser could do to the ledger: switch the append-only trigger off,
    run each `(sql, *args)`, switch it back on, in one transaction on the asyncpg `conn`."""
    async with conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        for sql, *args in statements:
            await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update_delete")
