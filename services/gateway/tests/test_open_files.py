"""The gateway lifts its own limit on open files, one of which each station's socket takes."""

from __future__ import annotations

import resource

import pytest
from voltline_gateway.bootstrap import raise_fd_limit
from voltline_gateway.metrics import FD_LIMIT


def test_the_soft_open_file_limit_is_lifted_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit to lift to")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_fd_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        assert FD_LIMIT._value.get() == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
