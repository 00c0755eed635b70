"""The session use cases' errors as problem+json, in one place (installed once by ``bootstrap.build``)."""

from __future__ import annotations

from starlette.requests import Request
from voltline_chassis.problems import Problem, ProblemFactory

from voltline_session.domain.remote import CommandNotPossible
from voltline_session.service_layer import driver_sessions, remote
from voltline_session.service_layer.supervision import SessionAlreadyEnded, SessionNotFound


def _not_found(request: Request, exc: SessionNotFound) -> Problem:
    session_id = request.path_params.get("session_id", exc.args[0] if exc.args else None)
    return Problem(404, f"No session {session_id!r}.", extra={"session_id": session_id})


def _ended(_request: Request, exc: SessionAlreadyEnded) -> Problem:
    ended = exc.session.ended_at.isoformat() if exc.session.ended_at else "?"
    return Problem(
        409, f"Session {exc.session.session_id} already ended at {ended}.", extra={"session_id": exc.session.session_id}
    )


def _offline(_request: Request, exc: remote.StationUnknown | remote.StationOffline) -> Problem:
    extra = {"code": "station_offline", "station_id": exc.station_id}
    return Problem(409, str(exc), title="Station offline", extra=extra)


def _auth_unanswered(_request: Request, exc: remote.AuthUnanswered) -> Problem:
    return Problem(503, str(exc), title="Auth service unavailable", extra={"code": "auth_unavailable"})


def _gateway_unanswered(_request: Request, exc: remote.GatewayUnanswered) -> Problem:
    return Problem(504, str(exc), title="Gateway did not answer", extra={"code": "gateway_timeout"})


def _not_possible(_request: Request, exc: CommandNotPossible) -> Problem:
    field = f"body.{exc.field}" if exc.field else "body"
    return Problem(422, str(exc), extra={"errors": [{"field": field, "message": str(exc)}]})


def _cannot_pay(_request: Request, _exc: driver_sessions.CannotPay) -> Problem:
    return Problem(
        402,
        "Add a payment method or top up your wallet before you charge.",
        title="No way to pay",
        extra={"code": "payment_required"},
    )


def _payment_unknown(_request: Request, exc: driver_sessions.PaymentCheckUnavailable) -> Problem:
    return Problem(
        503, f"Cannot check how you pay right now; retry shortly ({exc}).", extra={"code": "billing_unavailable"}
    )


def _no_app_token(_request: Request, _exc: driver_sessions.NoAppToken) -> Problem:
    return Problem(
        409,
        "Your account has no app token yet: sign in again (POST /api/v1/driver-token) once it is confirmed.",
        extra={"code": "no_app_token"},
    )


def _token_refused(_request: Request, exc: remote.TokenNotAccepted) -> Problem:
    return Problem(
        409,
        f"Your app token may not charge: the auth service answered {exc.status}.",
        title="Id token not accepted",
        extra={"code": "id_token_not_accepted", "authorization_status": exc.status},
    )


PROBLEMS: dict[type[Exception], ProblemFactory] = {
    remote.TokenNotAccepted: _token_refused,
    driver_sessions.CannotPay: _cannot_pay,
    driver_sessions.PaymentCheckUnavailable: _payment_unknown,
    driver_sessions.NoAppToken: _no_app_token,
    SessionNotFound: _not_found,
    SessionAlreadyEnded: _ended,
    remote.StationUnknown: _offline,
    remote.StationOffline: _offline,
    remote.AuthUnanswered: _auth_unanswered,
    remote.GatewayUnanswered: _gateway_unanswered,
    CommandNotPossible: _not_possible,
}
