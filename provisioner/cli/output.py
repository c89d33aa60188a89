"""Shared output helpers: every command prints a readable table or, with --output json, JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable

import click
from rich.console import Console
from rich.table import Table

console = Console(stderr=False)
err_console = Console(stderr=True)

output_option = click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="Output format.",
)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: list[str], rows: Iterable[Iterable[Any]]) -> None:
    t = Table(title=title, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    console.print(t)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise SystemExit(code)
