"""Hold the private stream of every enabled connection this runner wins the lease of.

Runs until SIGTERM or SIGINT, then stops its streams and releases its leases, so another
runner takes them at its next scan. Many runners may run at once (docs/live-session.md).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from workers.user_streams import StreamRunner


class Command(BaseCommand):
    help = "Run the private user streams of the connections (one holder per connection)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--holder",
            default=None,
            help="lease holder id (default STREAM_HOLDER_ID: host:pid:random)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        runner = StreamRunner(holder=options["holder"])
        self.stdout.write(
            f"STREAMS_READY holder={runner.holder} "
            f"lease={settings.STREAM_LEASE_SECONDS}s "
            f"scan={settings.STREAM_SCAN_SECONDS}s",
            ending="\n",
        )
        self.stdout.flush()
        asyncio.run(self._run(runner))

    async def _run(self, runner: StreamRunner) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await runner.run(stop)
