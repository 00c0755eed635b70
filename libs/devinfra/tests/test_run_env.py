"""What `make run` sets per service: priorities, long polls, flow control (bench.pipeline e2e uses the same)."""

from __future__ import annotations

from pathlib import Path

import pytest
from voltline_devinfra.run import bulk_priority, service_env


def test_bulk_consumers_start_at_normal_priority_and_idle_reply_readers_long_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "VOLTLINE_PROCESS_NICE",
        "VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS",
        "VOLTLINE_FLOW_CONTROL",
        "VOLTLINE_EVENT_LINGER_MS",
        "VOLTLINE_SCHED_SLICE_US",
        "VOLTLINE_BULK_NICE",
        "VOLTLINE_BULK_POLICY",
        "VOLTLINE_REQUEST_PATH_FETCH_WAIT_MS",
    ):
        monkeypatch.delenv(name, raising=False)
    env = service_env()
    # Niced from the start they did not come up on a busy machine: they are lowered once ready (ADR 0036).
    assert not any("VOLTLINE_PROCESS_NICE" in values for values in env.values())
    assert bulk_priority() == dict.fromkeys(("session", "billing", "diagnostics", "analytics"), (5, "idle"))
    # An idle reader at the platform's 10 ms fetched 100 times a second; the request path waits 25 ms on tansu
    # (its polls of a held fetch cost it ~0.1 ms each; a record still arrives within ~5 ms at the median).
    assert {name: values.get("VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS") for name, values in env.items()} == {
        "session": "200",
        "billing": "200",
        "diagnostics": None,
        "analytics": None,
        "gateway": "25",
        "auth": "25",
    }
    # The request path preempts the bulk consumers when it wakes (a short scheduler slice).
    assert env["auth"] == {"VOLTLINE_SCHED_SLICE_US": "100", "VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS": "25"}
    # The gateway shares the cores: its station events leave in 20 ms windows (fewer produce requests).
    assert env["gateway"] == {
        "VOLTLINE_FLOW_CONTROL": "true",
        "VOLTLINE_EVENT_LINGER_MS": "20",
        "VOLTLINE_SCHED_SLICE_US": "100",
        "VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS": "25",
    }


def test_the_environment_overrides_and_the_spool_is_the_embedded_brokers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS", "50")
    monkeypatch.setenv("VOLTLINE_FLOW_CONTROL", "false")
    monkeypatch.setenv("VOLTLINE_EVENT_LINGER_MS", "5")
    monkeypatch.setenv("VOLTLINE_SCHED_SLICE_US", "0")
    env = service_env(tmp_path / "spool")
    assert env["billing"]["VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS"] == "50"
    assert env["gateway"] == {
        "VOLTLINE_FLOW_CONTROL": "false",
        "VOLTLINE_EVENT_LINGER_MS": "5",
        "VOLTLINE_SCHED_SLICE_US": "0",
        "VOLTLINE_SPOOL_DIR": str(tmp_path / "spool"),
        "VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS": "50",
    }
    monkeypatch.delenv("VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS")
    monkeypatch.setenv("VOLTLINE_REQUEST_PATH_FETCH_WAIT_MS", "10")  # the request path's alone (main's wait)
    assert {name: env.get("VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS") for name, env in service_env().items()} == {
        "session": "200",
        "billing": "200",
        "diagnostics": None,
        "analytics": None,
        "gateway": "10",
        "auth": "10",
    }


def test_on_an_external_kafka_every_reader_long_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kafka answers a held fetch when a record arrives: the request path's readers need no 10 ms polls there."""
    monkeypatch.delenv("VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS", raising=False)
    monkeypatch.delenv("VOLTLINE_TAIL_FETCH_WAIT_MS", raising=False)
    env = service_env(embedded=False)
    assert {name: values["VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS"] for name, values in env.items()} == dict.fromkeys(
        ("session", "billing", "diagnostics", "analytics", "gateway", "auth"), "500"
    )
    assert env["gateway"]["VOLTLINE_TAIL_FETCH_WAIT_MS"] == "500"


def test_make_runs_services_are_spawned_in_our_session_at_normal_priority(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """make run lowers the bulk consumers once ready (`Stack.ready_priority`), not at spawn, and starts every service
    in our session (our autogroup), so that the bulk consumers' SCHED_IDLE ranks them under the request path
    (docs/adr/0046); a tests' stack gives each a session of its own; a service given VOLTLINE_PROCESS_NICE applies
    it itself (voltline_chassis)."""
    from voltline_devinfra import stack

    for one_autogroup in (True, False):
        asked: dict[str, dict[str, object]] = {}
        monkeypatch.setattr(stack, "spawn", lambda cmd, asked=asked, **kwargs: asked.setdefault(cmd[-1], kwargs))
        services = stack.Stack(common_env={}, ports={}, database_urls={}, log_dir=tmp_path, one_autogroup=one_autogroup)
        for name, env in service_env().items():
            services._spawn(stack.ServiceProcess(name, 0, env, tmp_path / f"{name}.log"))
        services._spawn(stack.ServiceProcess("console", 0, {"VOLTLINE_PROCESS_NICE": "7"}, tmp_path / "c.log"))
        assert {cmd: kwargs["own_session"] for cmd, kwargs in asked.items()} == {
            f"voltline_{name}": not one_autogroup for name in (*service_env(), "console")
        }
        assert not any("nice" in kwargs for kwargs in asked.values())


def test_the_bulk_priority_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLTLINE_BULK_NICE", "25")
    monkeypatch.setenv("VOLTLINE_BULK_POLICY", "batch")
    assert set(bulk_priority().values()) == {(19, "batch")}
    monkeypatch.setenv("VOLTLINE_BULK_POLICY", "fifo")
    with pytest.raises(ValueError, match="VOLTLINE_BULK_POLICY"):
        bulk_priority()


def test_the_request_path_and_only_it_is_spawned_with_a_short_slice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A station waits on the gateway and auth: they preempt the bulk consumers when they wake (make run)."""
    from voltline_devinfra import stack

    monkeypatch.delenv("VOLTLINE_SCHED_SLICE_US", raising=False)
    asked: dict[str, int] = {}
    monkeypatch.setattr(stack, "spawn", lambda cmd, **kwargs: asked.setdefault(cmd[-1], kwargs["slice_us"]))
    services = stack.Stack(common_env={}, ports={}, database_urls={}, log_dir=tmp_path)
    for name, env in service_env().items():
        services._spawn(stack.ServiceProcess(name, 0, env, tmp_path / f"{name}.log"))
    assert asked == {f"voltline_{name}": 0 for name in ("session", "billing", "diagnostics", "analytics")} | {
        "voltline_gateway": 100,
        "voltline_auth": 100,
    }
    assert [stack._slice_us(v) for v in ("", "0", "-3", "20", "250", "10000000")] == [0, 0, 0, 100, 250, 100_000]
