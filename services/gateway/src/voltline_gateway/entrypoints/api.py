"""Operator API of the gateway: who is connected where.

Stations held by this instance come from its own sockets; stations held by other live instances come from
their presence records, so any instance behind a load balancer can answer for the whole cluster.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from voltline_chassis.security import require_role

from voltline_gateway.adapters.ocpp_server import Connections
from voltline_gateway.adapters.presence import PresenceBook


class ConnectionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1",
                    "ocpp_version": "ocpp2.0.1",
                    "remote_address": "203.0.113.7",
                    "connected_since": "2026-11-20T10:00:00Z",
                    "gateway_instance": "gateway-0",
                    "tls": True,
                    "security_profile": 2,
                }
            ]
        }
    )

    station_id: str
    ocpp_version: str
    remote_address: str | None
    connected_since: datetime
    gateway_instance: str
    tls: bool | None = None
    security_profile: int | None = None


class ConnectionList(BaseModel):
    items: list[ConnectionOut]


def build_router(connections: Connections, presence: PresenceBook, instance_id: str) -> APIRouter:
    router = APIRouter(tags=["connections"])

    def listing() -> list[ConnectionOut]:
        items = [
            ConnectionOut(
                station_id=c.station_id,
                ocpp_version=c.ocpp_version,
                remote_address=c.remote_address,
                connected_since=c.since,
                gateway_instance=instance_id,
                tls=c.tls,
                security_profile=c.profile,
            )
            for c in connections.all()
        ]
        live = presence.live() - {instance_id}
        for station_id, record in presence.others_connected(live):
            items.append(
                ConnectionOut(
                    station_id=station_id,
                    ocpp_version=record.ocpp_version or "",
                    remote_address=record.remote_address,
                    connected_since=record.since,
                    gateway_instance=record.gateway_instance,
                )
            )
        return items

    @router.get("/connections", dependencies=[Depends(require_role("viewer"))])
    async def list_connections(
        station_id: str | None = None, ocpp_version: str | None = None, gateway_instance: str | None = None
    ) -> ConnectionList:
        """Connected stations: this instance's own, and those other live gateway instances hold."""
        return ConnectionList(
            items=[
                c
                for c in listing()
                if (station_id is None or c.station_id == station_id)
                and (ocpp_version is None or c.ocpp_version == ocpp_version)
                and (gateway_instance is None or c.gateway_instance == gateway_instance)
            ]
        )

    return router
