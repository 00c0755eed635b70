"""The session use cases' errors as problem+json, in one place (installed once by ``bootstrap.build``)."""

from __future__ import annotations

from starlette.requests import Request
from voltline_chassis.problems import Problem, ProblemFactory

from voltline_session.domain.remote import CommandNotPossible
from voltline_session.service_layer import remote
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


PROBLEMS: dict[type[Exception], ProblemFactory] = {
    SessionNotFound: _not_found,
    SessionAlreadyEnded: _ended,
    remote.StationUnknown: _offline,
    remote.StationOffline: _offline,
    remote.AuthUnanswered: _auth_unanswered,
    remote.GatewayUnanswered: _gateway_unanswered,
    CommandNotPossible: _not_possible,
}
