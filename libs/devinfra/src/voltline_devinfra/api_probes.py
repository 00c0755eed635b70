"""Bad input every operator API must refuse cleanly; shared by the services' bad-input tests.

`list_routes_refuse_huge_offsets` walks a service's own OpenAPI document, so a list added later is
covered without anyone remembering to add it to a table.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

HUGE = "9223372036854775808"  # 2**63: one past the largest BIGINT


async def list_routes_refuse_huge_offsets(
    api: httpx.AsyncClient, headers: dict[str, str], *, under: str = "/", skip: tuple[str, ...] = ()
) -> dict[str, int]:
    """{path: status} of every GET route with an `offset` parameter, called with offset=2**63 (and limit).

    `under`/`skip`: only paths with that prefix, none with these (drivers' routes take a driver's token)."""
    spec: dict[str, Any] = (await api.get("/openapi.json")).json()
    answers: dict[str, int] = {}
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or not any(p.get("name") == "offset" for p in get.get("parameters", [])):
            continue
        if not path.startswith(under) or path.startswith(skip):
            continue
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        answers[path] = (await api.get(concrete, params={"offset": HUGE}, headers=headers)).status_code
    return answers


def problem_field(response: httpx.Response) -> str:
    """The first field a 422 problem names ('' when none)."""
    errors = response.json().get("errors") or [{}]
    return str(errors[0].get("field", ""))
