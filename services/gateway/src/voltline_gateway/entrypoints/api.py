"""Operator API of the gateway: who is connected here."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from voltline_chassis.security import require_role

from voltline_gateway.adapters.ocpp_server import Connections


class ConnectionOut(BaseModel):
    station_id: str
    ocpp_version: str
    remote_address: str | None
    connected_since: datetime
    gateway_instance: str


class ConnectionList(BaseModel):
    items: list[ConnectionOut]


def build_router(connections: Connections, instance_id: str) -> APIRouter:
    router = APIRouter(tags=["connections"])

    @router.get("/connections", dependencies=[Depends(require_role("viewer"))])
    async def list_connections(station_id: str | None = None, ocpp_version: str | None = None) -> ConnectionList:
        items = [
            ConnectionOut(
                station_id=c.station_id,
                ocpp_version=c.ocpp_version,
                remote_address=c.remote_address,
                connected_since=c.since,
                gateway_instance=instance_id,
            )
            for c in connections.all()
            if (station_id is None or c.station_id == station_id)
            and (ocpp_version is None or c.ocpp_version == ocpp_version)
        ]
        return ConnectionList(items=items)

    return router
