"""In-memory fakes of the auth store (service_layer.ports), and an AuthContext wired to them.

They behave like the SQL repositories as far as the use cases can tell (ordering, filters, paging, the
sync state created on first need), so a use case tested here behaves the same over the database; the
real-store tests (test_api_*, test_station_sync, ...) stay as the integration tests of the adapters.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from voltline_auth.domain.access import ApiKey, AuditEntry
from voltline_auth.domain.accounts import DriverAccount, OneTimeSecret
from voltline_auth.domain.local_lists import LocalList
from voltline_auth.domain.station_commands import Command
from voltline_auth.domain.stations import Station
from voltline_auth.domain.sync import StationSync
from voltline_auth.domain.tokens import Driver, IdToken, TokenView
from voltline_auth.service_layer.context import AuthContext
from voltline_auth.service_layer.ports import TokenKey
from voltline_auth.service_layer.token_cache import TokenCache
from voltline_chassis.driver_tokens import SigningKey
from voltline_devinfra.fakes import FakeClock, FakeStore, FakeUnitOfWork
from voltline_events import Topics
from voltline_events.payloads.commands import StationCommandResult

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def _page(rows: list[Any], limit: int | None, offset: int = 0) -> list[Any]:
    return rows[offset:] if limit is None else rows[offset : offset + limit]


class FakeStations:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, Station] = t["stations"]
        self._sync: dict[str, StationSync] = t["sync"]

    async def get(self, station_id: str) -> Station | None:
        return self._rows.get(station_id)

    async def list(self, *, status: str | None = None, limit: int = 100, offset: int = 0) -> list[Station]:
        rows = [s for _, s in sorted(self._rows.items()) if status is None or s.status == status]
        return _page(rows, limit, offset)

    async def existing(self, station_ids: list[str]) -> set[str]:
        return set(station_ids) & set(self._rows)

    async def add(self, station: Station) -> None:
        if station.station_id in self._rows:
            raise KeyError(f"duplicate station {station.station_id}")
        self._rows[station.station_id] = station

    async def save(self, station: Station) -> None:
        if station.station_id in self._rows:
            self._rows[station.station_id] = station

    async def delete(self, station_id: str) -> None:
        self._sync.pop(station_id, None)
        self._rows.pop(station_id, None)


class FakeSync:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, StationSync] = t["sync"]
        self._stations: dict[str, Station] = t["stations"]

    async def get(self, station_id: str) -> StationSync | None:
        return self._rows.get(station_id)

    async def many(self, station_ids: Iterable[str]) -> dict[str, StationSync]:
        return {s: self._rows[s] for s in station_ids if s in self._rows}

    async def ensure(self, station_id: str) -> None:
        self._rows.setdefault(station_id, StationSync(station_id))

    async def set(self, station_id: str, **values: Any) -> None:
        await self.ensure(station_id)
        self._rows[station_id] = replace(self._rows[station_id], **values)

    async def bump(self, station_ids: Iterable[str], *, clear_cache: bool = False, due: datetime | None = None) -> None:
        for station_id in sorted(set(station_ids)):
            await self.ensure(station_id)
            row = self._rows[station_id]
            self._rows[station_id] = replace(
                row,
                generation=row.generation + 1,
                attempts=0,
                next_attempt_at=due,
                cache_clear_pending=row.cache_clear_pending or clear_cache,
            )

    async def stations_on_lists(self, list_ids: Iterable[str]) -> list[str]:
        wanted = set(list_ids)
        return [s.station_id for s in self._rows.values() if s.local_list in wanted]

    async def due(self, now: datetime, limit: int) -> list[str]:
        def ready(s: StationSync) -> bool:
            station = self._stations.get(s.station_id)
            return (
                s.connected
                and station is not None
                and station.status == "Accepted"
                and s.pending
                and (s.next_attempt_at is None or s.next_attempt_at <= now)
                and (s.lease_until is None or s.lease_until < now)
            )

        rows = sorted(
            filter(ready, self._rows.values()), key=lambda s: s.next_attempt_at or datetime.min.replace(tzinfo=UTC)
        )
        return [s.station_id for s in rows[:limit]]

    async def claim(self, station_id: str, now: datetime, lease: timedelta) -> bool:
        row = self._rows.get(station_id)
        if row is None or (row.lease_until is not None and row.lease_until >= now):
            return False
        self._rows[station_id] = replace(row, lease_until=now + lease)
        return True


class FakeDrivers:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, Driver] = t["drivers"]

    async def get(self, driver_id: str) -> Driver | None:
        return self._rows.get(driver_id)

    async def get_by_email(self, email: str) -> Driver | None:
        return next((d for d in self._rows.values() if d.email == email), None)

    async def add(self, driver: Driver) -> None:
        if driver.driver_id in self._rows or await self.get_by_email(driver.email):
            raise KeyError(f"duplicate driver {driver.driver_id}")
        self._rows[driver.driver_id] = driver

    async def save(self, driver: Driver) -> None:
        if driver.driver_id in self._rows:
            self._rows[driver.driver_id] = driver

    async def search(self, *, q: str | None, limit: int, offset: int) -> list[Driver]:
        rows = sorted(self._rows.values(), key=lambda d: (d.created_at, d.driver_id))
        if q:
            rows = [d for d in rows if d.email.startswith(q.lower()) or d.name.startswith(q)]
        return _page(rows, limit, offset)


class FakeTokens:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[TokenKey, IdToken] = t["tokens"]
        self._drivers: dict[str, Driver] = t["drivers"]

    def _view(self, token: IdToken) -> TokenView:
        driver = self._drivers.get(token.driver_id) if token.driver_id else None
        return TokenView(token, driver.language if driver else None, driver.max_concurrent_sessions if driver else None)

    async def get(self, key: str, token_type: str) -> IdToken | None:
        return self._rows.get((key, token_type))

    async def by_key(self, key: str) -> list[IdToken]:
        return [t for (k, _), t in sorted(self._rows.items()) if k == key]

    async def views_by_key(self, key: str) -> list[TokenView]:
        return [self._view(t) for t in await self.by_key(key)]

    async def views(self, keys: Iterable[TokenKey]) -> dict[TokenKey, TokenView]:
        return {k: self._view(self._rows[k]) for k in keys if k in self._rows}

    async def of_driver(self, driver_id: str) -> list[IdToken]:
        return [t for t in self._rows.values() if t.driver_id == driver_id]

    async def add(self, token: IdToken) -> None:
        if (token.key, token.type) in self._rows:
            raise KeyError(f"duplicate token {token.id_token}")
        self._rows[(token.key, token.type)] = token

    async def save(self, token: IdToken) -> None:
        if (token.key, token.type) in self._rows:
            self._rows[(token.key, token.type)] = token

    async def delete(self, token: IdToken) -> None:
        self._rows.pop((token.key, token.type), None)

    async def search(
        self,
        *,
        driver_id: str | None = None,
        prefix: str | None = None,
        status: str | None = None,
        token_type: str | None = None,
        group_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[IdToken]:
        rows = [
            t
            for (key, kind), t in sorted(self._rows.items())
            if (driver_id is None or t.driver_id == driver_id)
            and (not prefix or key.startswith(prefix.upper()))
            and (status is None or t.status == status)
            and (token_type is None or kind == token_type)
            and (group_id is None or t.group_id == group_id)
        ]
        return _page(rows, limit, offset)


class FakeActiveSessions:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, dict[str, Any]] = t["sessions"]

    async def add(self, **values: Any) -> None:
        self._rows.setdefault(values["session_id"], values)

    async def remove(self, session_id: str) -> None:
        self._rows.pop(session_id, None)

    async def count_for_driver(self, driver_id: str, *, station_id: str, evse_id: int | None) -> int:
        def same_place(s: dict[str, Any]) -> bool:
            return s["station_id"] == station_id and (evse_id is None or s["evse_id"] in (None, evse_id))

        return sum(1 for s in self._rows.values() if s["driver_id"] == driver_id and not same_place(s))

    async def stations_for_token(self, key: str) -> list[str]:
        return sorted({s["station_id"] for s in self._rows.values() if s["id_token_key"] == key})

    async def list(self, *, driver_id: str | None, limit: int) -> list[dict[str, Any]]:
        rows = sorted(self._rows.values(), key=lambda s: s["started_at"])
        return [dict(s) for s in rows if driver_id is None or s["driver_id"] == driver_id][:limit]


class FakeLocalLists:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, LocalList] = t["lists"]
        self._entries: set[tuple[str, str, str]] = t["list_entries"]
        self._changes: dict[tuple[str, int, str, str], str] = t["list_changes"]

    async def get(self, list_id: str) -> LocalList | None:
        return self._rows.get(list_id)

    async def list(self, *, limit: int, offset: int) -> list[LocalList]:
        return _page([v for _, v in sorted(self._rows.items())], limit, offset)

    async def add(self, local_list: LocalList) -> None:
        if local_list.list_id in self._rows:
            raise KeyError(f"duplicate list {local_list.list_id}")
        self._rows[local_list.list_id] = local_list

    async def delete(self, list_id: str) -> None:
        self._entries -= {e for e in self._entries if e[0] == list_id}
        for change in [c for c in self._changes if c[0] == list_id]:
            del self._changes[change]
        self._rows.pop(list_id, None)

    async def bump(self, list_id: str, now: datetime) -> int:
        row = self._rows[list_id]
        self._rows[list_id] = replace(row, version=row.version + 1, updated_at=now)
        return row.version + 1

    async def record_change(self, list_id: str, version: int, key: TokenKey, id_token: str) -> None:
        self._changes.setdefault((list_id, version, *key), id_token)

    async def add_entry(self, list_id: str, key: TokenKey) -> bool:
        new = (list_id, *key) not in self._entries
        self._entries.add((list_id, *key))
        return new

    async def remove_entry(self, list_id: str, key: TokenKey) -> bool:
        found = (list_id, *key) in self._entries
        self._entries.discard((list_id, *key))
        return found

    async def lists_with(self, key: TokenKey) -> list[str]:
        return sorted(e[0] for e in self._entries if e[1:] == key)

    async def entries(self, list_id: str, *, limit: int | None = None, offset: int = 0) -> list[TokenKey]:
        return _page(sorted(e[1:] for e in self._entries if e[0] == list_id), limit, offset)

    async def size(self, list_id: str) -> int:
        return sum(1 for e in self._entries if e[0] == list_id)

    async def changes_since(self, list_id: str, version: int) -> dict[TokenKey, str]:
        changes = sorted((v, k, t, token) for (lst, v, k, t), token in self._changes.items() if lst == list_id)
        return {(k, t): token for v, k, t, token in changes if v > version}


class FakeApiKeys:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, ApiKey] = t["api_keys"]

    async def add(self, key: ApiKey) -> None:
        self._rows[key.key_id] = key

    async def get(self, key_id: str) -> ApiKey | None:
        return self._rows.get(key_id)

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self._rows.values() if k.key_hash == key_hash), None)

    async def list(self, *, role: str | None = None, limit: int = 100, offset: int = 0) -> list[ApiKey]:
        rows = sorted(self._rows.values(), key=lambda k: (k.created_at, k.key_id))
        return _page([k for k in rows if role is None or k.role == role], limit, offset)

    async def revoke(self, key_id: str, at: datetime) -> None:
        if key_id in self._rows:
            self._rows[key_id] = replace(self._rows[key_id], revoked_at=at)


class FakeAudit:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: list[AuditEntry] = t["audit"]

    async def add(self, entry: AuditEntry) -> None:
        self._rows.append(replace(entry, id=next(_ids)))

    async def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        rows = [
            e
            for e in reversed(self._rows)
            if (actor is None or e.actor == actor)
            and (action is None or e.action == action)
            and (target_id is None or e.target_id == target_id)
            and (since is None or e.at >= since)
            and (until is None or e.at < until)
        ]
        return _page(rows, limit, offset)


class FakeDecisions:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: list[dict[str, Any]] = t["decisions"]

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        self._rows.extend({"id": next(_ids), **row} for row in rows)

    async def stations_that_accepted(self, key: str, since: datetime) -> list[str]:
        return sorted(
            {
                r["station_id"]
                for r in self._rows
                if r["id_token_key"] == key and r["at"] >= since and r["status"] == "Accepted"
            }
        )

    async def list(
        self,
        *,
        station_id: str | None = None,
        key: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        rows = [
            dict(r)
            for r in reversed(self._rows)
            if (station_id is None or r["station_id"] == station_id)
            and (key is None or r["id_token_key"] == key)
            and (status is None or r["status"] == status)
        ]
        return _page(rows, limit, offset)

    async def purge(self, older_than: datetime) -> int:
        kept = [r for r in self._rows if r["at"] >= older_than]
        removed = len(self._rows) - len(kept)
        self._rows[:] = kept
        return removed


def empty_tables() -> dict[str, Any]:
    return {
        "stations": {},
        "sync": {},
        "drivers": {},
        "tokens": {},
        "sessions": {},
        "lists": {},
        "list_entries": set(),
        "list_changes": {},
        "api_keys": {},
        "audit": [],
        "decisions": [],
        "accounts": {},
        "secrets": {},
        "signing_keys": [],
    }


class FakeAccounts:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, DriverAccount] = t["accounts"]

    async def get(self, driver_id: str) -> DriverAccount | None:
        return self._rows.get(driver_id)

    async def get_by_email(self, email: str) -> DriverAccount | None:
        return next((a for a in self._rows.values() if a.email == email), None)

    async def add(self, account: DriverAccount) -> None:
        if account.driver_id in self._rows or await self.get_by_email(account.email):
            raise KeyError(f"duplicate account {account.email}")
        self._rows[account.driver_id] = account

    async def save(self, account: DriverAccount) -> None:
        if account.driver_id in self._rows:
            self._rows[account.driver_id] = account


class FakeSecrets:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, OneTimeSecret] = t["secrets"]

    async def add(self, secret: OneTimeSecret) -> None:
        self._rows[secret.secret_hash] = secret

    async def get(self, secret_hash: str, purpose: str) -> OneTimeSecret | None:
        found = self._rows.get(secret_hash)
        return found if found is not None and found.purpose == purpose else None

    async def use(self, secret_hash: str, at: datetime) -> None:
        found = self._rows.get(secret_hash)
        if found is not None and found.used_at is None:
            self._rows[secret_hash] = replace(found, used_at=at)

    async def revoke_all(self, driver_id: str, purpose: str, at: datetime) -> int:
        mine = [s for s in self._rows.values() if (s.driver_id, s.purpose, s.used_at) == (driver_id, purpose, None)]
        for secret in mine:
            self._rows[secret.secret_hash] = replace(secret, used_at=at)
        return len(mine)


class FakeSigningKeys:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: list[SigningKey] = t["signing_keys"]

    async def all(self) -> list[SigningKey]:
        return sorted(self._rows, key=lambda k: k.created_at)

    async def add(self, key: SigningKey) -> None:
        self._rows.append(key)


class FakeAuthUnitOfWork(FakeUnitOfWork):
    """service_layer.ports.AuthUnitOfWork over a FakeStore."""

    def attach_repositories(self, tables: dict[str, Any]) -> None:
        self.stations = FakeStations(tables)
        self.sync = FakeSync(tables)
        self.drivers = FakeDrivers(tables)
        self.tokens = FakeTokens(tables)
        self.sessions = FakeActiveSessions(tables)
        self.lists = FakeLocalLists(tables)
        self.api_keys = FakeApiKeys(tables)
        self.audit = FakeAudit(tables)
        self.decisions = FakeDecisions(tables)
        self.accounts = FakeAccounts(tables)
        self.secrets = FakeSecrets(tables)
        self.signing_keys = FakeSigningKeys(tables)


@dataclass
class FakeCommands:
    """The station-command port: answers every command with `status`, and remembers what was sent."""

    status: str = "Accepted"
    sent: list[tuple[str, Command]] = field(default_factory=list)

    async def send(self, station_id: str, command: Command, ocpp_version: str | None) -> StationCommandResult:
        self.sent.append((station_id, command))
        return StationCommandResult(outcome="answered", action=command.action, payload={"status": self.status})


@dataclass
class Fakes:
    """An AuthContext over fakes, and the fakes to look into."""

    ctx: AuthContext
    store: FakeStore
    clock: FakeClock
    commands: FakeCommands
    kicks: list[None]

    def uow(self) -> FakeAuthUnitOfWork:
        return FakeAuthUnitOfWork(self.store)

    def published(self, topic: str) -> list[Any]:
        return self.store.envelopes(topic)


def fake_auth(**overrides: Any) -> Fakes:
    store = FakeStore(empty_tables())
    clock = FakeClock(NOW)
    commands = FakeCommands()
    kicks: list[None] = []

    def uow() -> FakeAuthUnitOfWork:
        return FakeAuthUnitOfWork(store)

    async def views_by_key(key: str) -> list[TokenView]:
        return await FakeTokens(store.tables).views_by_key(key)

    async def settle() -> None:
        return None

    ctx = AuthContext(
        uow=uow,
        topics=Topics(),
        source="auth/test",
        clock=clock,
        tokens=TokenCache(views_by_key, ttl_s=0),
        commands=commands,
        kick=lambda: kicks.append(None),
        settle=settle,
        **overrides,
    )
    return Fakes(ctx, store, clock, commands, kicks)
