"""What the management commands print: a table (rich), JSON with stable keys, and a progress
bar on stderr for long runs (only on a terminal, never with --json), so stdout stays the
result alone. Nothing here knows a secret: callers pass only what may be shown."""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO, cast

from django.core.management.base import OutputWrapper
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

DEFAULT_WIDTH = 160


def _stream(wrapper: OutputWrapper | TextIO) -> TextIO:
    """The stream under Django's OutputWrapper (which would add a newline to each write)."""
    return cast(TextIO, getattr(wrapper, "_out", wrapper))


def table_text(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table as plain text, as wide as the terminal (or DEFAULT_WIDTH off one)."""
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0)
    )
    for name in columns:
        # ids stay whole on one line (they are copied into the next command)
        table.add_column(name, overflow="fold", no_wrap=name == "id" or name.endswith(" id"))
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    buffer = io.StringIO()
    # off a terminal (a pipe, a log, a test) the table is never cut to a guessed width
    width = (
        shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
        if sys.stdout.isatty()
        else DEFAULT_WIDTH
    )
    Console(file=buffer, width=max(width, 80), no_color=True, highlight=False).print(table)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_table(
    out: OutputWrapper | TextIO, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    _stream(out).write(table_text(title, columns, rows))


def print_json(out: OutputWrapper | TextIO, data: Any) -> None:
    _stream(out).write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


class Steps:
    """The progress of a run: ``advance`` after each item, with what it was."""

    def __init__(self, progress: Progress | None, task: Any) -> None:
        self._progress, self._task = progress, task

    def advance(self, label: str = "") -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, item=label)


@contextmanager
def progress(
    err: OutputWrapper | TextIO, *, total: int, description: str, enabled: bool = True
) -> Iterator[Steps]:
    """A progress bar on stderr while the block runs; silent off a terminal or when not
    enabled (--json), so a pipe or a test sees the result only."""
    stream = _stream(err)
    if not enabled or not getattr(stream, "isatty", lambda: False)() or total < 2:
        yield Steps(None, None)
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[item]}"),
        console=Console(file=stream),
        transient=True,
    )
    with bar:
        yield Steps(bar, bar.add_task(description, total=total, item=""))
