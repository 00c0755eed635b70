"""Domain errors as problem+json, in one place (installed once by ``bootstrap.build``).

Routes where the same error means something else (a log request's CommandNotPossible names `body`, a campaign
error is 422 on create and 409 on control) still say so where they catch it.
"""

from __future__ import annotations

from starlette.requests import Request
from voltline_chassis.problems import Problem, ProblemFactory

from voltline_diagnostics.adapters.uploads import UploadTooLarge
from voltline_diagnostics.domain.commands import CommandNotPossible
from voltline_diagnostics.service_layer.locations import LocationExists, LocationNotFound, StationInUse


def _not_possible(_request: Request, exc: CommandNotPossible) -> Problem:
    field = f"body.{exc.field}" if exc.field else "body"
    return Problem(422, str(exc), extra={"errors": [{"field": field, "message": str(exc)}]})


PROBLEMS: dict[type[Exception], ProblemFactory] = {
    CommandNotPossible: _not_possible,
    UploadTooLarge: lambda _request, exc: Problem(413, str(exc)),
    LocationNotFound: lambda _request, exc: Problem(404, str(exc)),
    LocationExists: lambda _request, exc: Problem(409, str(exc)),
    StationInUse: lambda _request, exc: Problem(409, str(exc), extra={"station_id": exc.station_id}),
}
