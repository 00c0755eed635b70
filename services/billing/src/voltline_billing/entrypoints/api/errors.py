"""The billing use cases' errors as problem+json, in one place (installed once by ``bootstrap.build``)."""

from __future__ import annotations

from starlette.requests import Request
from voltline_chassis.problems import Problem, ProblemFactory

from voltline_billing.entrypoints.api.common import invalid
from voltline_billing.service_layer.context import Conflict, Invalid, NotFound
from voltline_billing.service_layer.driver_payments import PaymentDeclined, ProviderNoAnswer


def _invalid(request: Request, exc: Invalid) -> Problem:
    """Name the field where the client sent it: a path parameter, else the body."""
    where = "path" if exc.field in request.path_params else "body"
    return invalid(f"{where}.{exc.field}", str(exc))


PROBLEMS: dict[type[Exception], ProblemFactory] = {
    NotFound: lambda _request, exc: Problem(404, str(exc)),
    Conflict: lambda _request, exc: Problem(409, str(exc)),
    Invalid: _invalid,
    PaymentDeclined: lambda _request, exc: Problem(402, str(exc), title="Payment declined"),
    ProviderNoAnswer: lambda _request, exc: Problem(504, str(exc), title="Payment provider did not answer"),
}
