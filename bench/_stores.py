"""The store a benchmark runs on, chosen the same way by every one of them: `--postgres DSN` (default
VOLTLINE_TEST_POSTGRES_DSN; a fresh database, dropped afterwards) or `--sqlite` (a file in a new temp dir)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from voltline_devinfra.postgres import ExternalPostgres


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--postgres", default=os.environ.get("VOLTLINE_TEST_POSTGRES_DSN"))
    parser.add_argument("--sqlite", action="store_true")


@contextmanager
def bench_database(args: argparse.Namespace, prefix: str) -> Iterator[str]:
    """The database URL for `args` (see `add_store_arguments`); a PostgreSQL database `<prefix>_<hex>` is dropped
    on the way out, whatever happened."""
    if args.sqlite:
        yield f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/{prefix}.db"
        return
    if not args.postgres:
        sys.exit("give --postgres (or set VOLTLINE_TEST_POSTGRES_DSN) or --sqlite")
    pg, name = ExternalPostgres(args.postgres), f"{prefix}_{secrets.token_hex(3)}"
    database = pg.create_database(name)
    try:
        yield database
    finally:
        pg.drop_database(name)
