"""``python -m paper --port 8900 [--host 127.0.0.1] [--walk] [--accounts FILE]
[--stream-timing JSON]``.

Prints ``PAPER_READY http://<host>:<port>`` on stdout once listening (``--port 0`` picks a
free port) and shuts down cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from aiohttp import web

from paper.engine import Engine
from paper.server import build_app
from paper.streams import StreamTiming

DEFAULT_ACCOUNTS = "var/paper-accounts.json"
SHUTDOWN_GRACE_SECONDS = 3.0  # in-flight requests (a latency fault) get this long to finish


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m paper", description="The paper exchange (all six protocols)."
    )
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--walk", action="store_true", help="prices random-walk slowly")
    parser.add_argument("--accounts", default=DEFAULT_ACCOUNTS, help="the accounts file")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--stream-timing",
        type=json.loads,
        default=None,
        help='private streams\' timings, shrunk for tests: {"bingx": {"ping_interval": 0.5}}',
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    engine = Engine(args.accounts)
    timing = StreamTiming(args.stream_timing) if args.stream_timing else None
    app = build_app(engine, walk=args.walk, stream_timing=timing)
    access_log = logging.getLogger("aiohttp.access") if args.access_log else None
    runner = web.AppRunner(app, access_log=access_log, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = runner.addresses[0][1]
    print(f"PAPER_READY http://{args.host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except ValueError as exc:  # a corrupt accounts file: say so and stop
        logging.getLogger("paper").error("%s", exc)
        return 2
    except OSError as exc:  # the port is taken
        logging.getLogger("paper").error("cannot listen: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
