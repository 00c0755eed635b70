"""The auth use cases' errors as problem+json, in one place (installed once by ``bootstrap.build``).

Routes let these errors propagate; the path parameters name what the message is about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from voltline_chassis.app import API_PREFIX
from voltline_chassis.problems import Problem, ProblemFactory

from voltline_auth.domain.accounts import InvalidAccount
from voltline_auth.domain.stations import InvalidStation
from voltline_auth.domain.tokens import InvalidToken
from voltline_auth.entrypoints.common import conflict, invalid, not_found
from voltline_auth.service_layer import access, accounts, drivers, local_lists, ports, rotation, stations, sync, tokens


def _param(request: Request, name: str, exc: Exception | None = None) -> str:
    """The path parameter `name`, else what the error itself names."""
    value = request.path_params.get(name)
    if value is None and exc is not None and exc.args:
        value = exc.args[0]
    return str(value)


def _missing(what: str, param: str) -> ProblemFactory:
    def factory(request: Request, exc: Any) -> Problem:
        ident = _param(request, param, exc)
        return not_found(what, ident, **{param: ident})

    return factory


def _invalid_station(_request: Request, exc: InvalidStation) -> Problem:
    return invalid(exc.field, str(exc), title="Invalid station")


def _invalid_token(request: Request, exc: InvalidToken) -> Problem:
    title = "Invalid driver" if request.url.path.startswith(f"{API_PREFIX}/drivers") else "Invalid id token"
    return invalid(exc.field, str(exc), title=title)


def _station_exists(_request: Request, exc: stations.StationExists) -> Problem:
    station_id = exc.args[0]
    return conflict(f"Station {station_id!r} is already registered; PATCH it to change it.", station_id=station_id)


def _token_exists(_request: Request, exc: tokens.TokenExists) -> Problem:
    id_token, token_type = exc.args
    return conflict(f"An id token {id_token!r} of type {token_type} exists; PATCH it to change it.")


def _token_ambiguous(request: Request, exc: tokens.TokenAmbiguous) -> Problem:
    id_token = _param(request, "id_token")
    return conflict(
        f"Several tokens have the id {id_token!r} ({', '.join(exc.types)}); add ?type= to pick one.", types=exc.types
    )


def _list_exists(_request: Request, exc: local_lists.ListExists) -> Problem:
    list_id = exc.args[0]
    return conflict(f"A local list {list_id!r} exists already.", list_id=list_id)


def _list_in_use(request: Request, exc: local_lists.ListInUse) -> Problem:
    list_id = _param(request, "list_id")
    return conflict(f"Stations still use list {list_id!r}; assign them another list first.", stations=exc.stations)


def _driver_exists(_request: Request, _exc: drivers.DriverExists) -> Problem:
    return conflict("A driver with this e-mail address is already registered.")


def _version_unknown(request: Request, exc: rotation.VersionUnknown) -> Problem:
    station_id = _param(request, "station_id", exc)
    return conflict(
        f"Station {station_id!r} has not connected yet, so its OCPP version is unknown; retry once it is online.",
        station_id=station_id,
    )


def _rotation_failed(request: Request, exc: rotation.RotationFailed) -> Problem:
    return conflict(
        f"The password was not changed: {exc.verdict.detail}. The old password stays valid.",
        station_id=_param(request, "station_id"),
        retry=exc.verdict.retry,
    )


def _sync_busy(request: Request, exc: sync.SyncBusy) -> Problem:
    return conflict(f"Station {_param(request, 'station_id', exc)!r} is being synced right now; retry shortly.")


def _command_failed(request: Request, exc: sync.CommandFailed) -> Problem:
    # Only GetLocalListVersion reports its failure this way (sync reports per step instead).
    return conflict(f"GetLocalListVersion failed: {exc.verdict.detail}", station_id=_param(request, "station_id"))


def _invalid_account(_request: Request, exc: InvalidAccount) -> Problem:
    return invalid(exc.field, str(exc), title="Invalid account")


def _account_exists(_request: Request, _exc: accounts.AccountExists) -> Problem:
    return conflict("An account with this e-mail address exists; sign in, or reset its password.")


def _duplicate(_request: Request, _exc: ports.Duplicate) -> Problem:
    return conflict("Another request created the same resource at the same moment; read it, or try again.")


def _login_failed(_request: Request, _exc: accounts.LoginFailed) -> Problem:
    return Problem(401, "Wrong e-mail address or password.", title="Sign-in failed")


def _locked(_request: Request, exc: accounts.AccountLocked) -> Problem:
    retry = max(1, int((exc.until - datetime.now(UTC)).total_seconds()) + 1)
    return Problem(
        429,
        f"Too many wrong passwords: sign-in is locked until {exc.until.isoformat()}; or reset the password.",
        title="Account locked",
        headers={"Retry-After": str(retry)},
        extra={"locked_until": exc.until.isoformat()},
    )


def _not_confirmed(_request: Request, _exc: accounts.AccountNotConfirmed) -> Problem:
    return Problem(403, "Confirm the account first with the code we mailed to you.", title="Account not confirmed")


def _invalid_code(_request: Request, exc: accounts.InvalidCode) -> Problem:
    return Problem(400, f"The {exc.what} is unknown, used or expired.", title=f"Invalid {exc.what}")


PROBLEMS: dict[type[Exception], ProblemFactory] = {
    InvalidAccount: _invalid_account,
    accounts.AccountExists: _account_exists,
    ports.Duplicate: _duplicate,
    accounts.LoginFailed: _login_failed,
    accounts.AccountLocked: _locked,
    accounts.AccountNotConfirmed: _not_confirmed,
    accounts.InvalidCode: _invalid_code,
    InvalidStation: _invalid_station,
    InvalidToken: _invalid_token,
    stations.StationNotFound: _missing("station", "station_id"),
    stations.StationExists: _station_exists,
    drivers.DriverNotFound: _missing("driver", "driver_id"),
    drivers.DriverExists: _driver_exists,
    tokens.TokenNotFound: _missing("id token", "id_token"),
    tokens.TokenExists: _token_exists,
    tokens.TokenAmbiguous: _token_ambiguous,
    local_lists.ListNotFound: _missing("local list", "list_id"),
    local_lists.ListExists: _list_exists,
    local_lists.ListInUse: _list_in_use,
    access.KeyNotFound: _missing("API key", "key_id"),
    rotation.VersionUnknown: _version_unknown,
    rotation.RotationFailed: _rotation_failed,
    sync.SyncBusy: _sync_busy,
    sync.CommandFailed: _command_failed,
}
