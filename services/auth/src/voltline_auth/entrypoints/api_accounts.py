"""Drivers' API: sign-up, confirmation, sign-in, refresh, sign-out, password reset (docs/drivers.md).

Sign-up and the token routes take no bearer token (they are how a driver gets one); the operator's manual
confirmation needs the operator role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from voltline_chassis.app import API_PREFIX
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_auth.domain.accounts import DriverAccount
from voltline_auth.entrypoints.api_tokens import Email
from voltline_auth.service_layer import accounts as acc

Password = Annotated[str, Field(min_length=1, max_length=1024)]
Secret = Annotated[str, Field(min_length=1, max_length=256)]

PUBLIC_ROUTES = [
    ("POST", f"{API_PREFIX}/driver-accounts"),
    ("POST", f"{API_PREFIX}/driver-accounts/confirmation"),
    ("POST", f"{API_PREFIX}/driver-accounts/password-reset"),
    ("POST", f"{API_PREFIX}/driver-accounts/password"),
    ("POST", f"{API_PREFIX}/driver-token"),
    ("POST", f"{API_PREFIX}/driver-token/refresh"),
    ("POST", f"{API_PREFIX}/driver-token/revoke"),
]


class SignUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password = Field(description="At least 10 characters.")
    name: Annotated[str, Field(min_length=1, max_length=100)]


class AccountOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"driver_id": "5f0c…", "email": "grace@example.com", "confirmed": False}]}
    )

    driver_id: str
    email: str
    confirmed: bool

    @classmethod
    def of(cls, account: DriverAccount) -> AccountOut:
        return cls(driver_id=account.driver_id, email=account.email, confirmed=account.confirmed)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Secret


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Secret


class RevokeIn(RefreshIn):
    everywhere: bool = Field(default=False, description="Also every other refresh token of the driver.")


class ResetRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class ResetRequestedOut(BaseModel):
    detail: str = "If this address has an account, a reset code is on its way."


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Secret
    password: Password


class TokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"access_token": "eyJhbGciOiJFZERTQSIs…", "refresh_token": "r4nd0m…", "expires_in": 300}]
        }
    )

    access_token: str = Field(description="EdDSA JWT; send as 'Authorization: Bearer <access_token>'.")
    refresh_token: str = Field(description="One use: POST it to /driver-token/refresh for a new pair.")
    expires_in: int = Field(description="Seconds the access token is valid.")
    token_type: str = "Bearer"

    @classmethod
    def of(cls, pair: acc.TokenPair) -> TokenOut:
        return cls(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


def build_public_router(actx: acc.AccountsContext) -> APIRouter:
    """Routes served without a bearer token (create_app's `driver_routers` + `public_routes`)."""
    router = APIRouter(tags=["driver accounts"])

    @router.post("/driver-accounts", status_code=201)
    async def sign_up(body: SignUpIn) -> AccountOut:
        """Creates the account (unconfirmed) and mails a confirmation code."""
        account = await acc.sign_up(actx, email=body.email, password=body.password, name=body.name)
        return AccountOut.of(account)

    @router.post("/driver-accounts/confirmation")
    async def confirm(body: CodeIn) -> AccountOut:
        return AccountOut.of(await acc.confirm_with_code(actx, body.code))

    @router.post("/driver-accounts/password-reset", status_code=202)
    async def request_reset(body: ResetRequestIn) -> ResetRequestedOut:
        """Mails a reset code if the address has an account; the answer is the same either way."""
        await acc.request_reset(actx, body.email)
        return ResetRequestedOut()

    @router.post("/driver-accounts/password", status_code=204, response_class=Response)
    async def reset(body: ResetIn) -> Response:
        await acc.reset_password(actx, body.code, body.password)
        return Response(status_code=204)

    @router.post("/driver-token")
    async def log_in(body: LoginIn) -> TokenOut:
        return TokenOut.of(await acc.log_in(actx, email=body.email, password=body.password))

    @router.post("/driver-token/refresh")
    async def refresh(body: RefreshIn) -> TokenOut:
        return TokenOut.of(await acc.refresh(actx, body.refresh_token))

    @router.post("/driver-token/revoke", status_code=204, response_class=Response)
    async def revoke(body: RevokeIn) -> Response:
        await acc.log_out(actx, body.refresh_token, everywhere=body.everywhere)
        return Response(status_code=204)

    return router


def build_operator_router(actx: acc.AccountsContext) -> APIRouter:
    router = APIRouter(tags=["driver accounts"])

    @router.post("/driver-accounts/{driver_id}/confirm", dependencies=[Depends(require_role("operator"))])
    async def confirm_by_hand(driver_id: str, who: OperatorPrincipal) -> AccountOut:
        return AccountOut.of(await acc.confirm_by_operator(actx, driver_id, actor=who.subject))

    return router
