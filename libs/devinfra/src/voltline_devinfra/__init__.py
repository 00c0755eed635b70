"""voltline's local infrastructure: real servers for tests and ``make run``, no Docker.

- :mod:`voltline_devinfra.kafka` — Apache Kafka 3.9 (KRaft) from Maven Central jars.
- :mod:`voltline_devinfra.postgres` — a private PostgreSQL cluster from the distro binaries.
- :mod:`voltline_devinfra.tansu` — the in-memory Kafka-compatible broker behind ``make run``.
- :mod:`voltline_devinfra.pytest_plugin` — session fixtures ``kafka``/``postgres`` and per-test
  ``topic_prefix``/``pg_url``/``sqlite_url``.

Submodules are imported on demand so loading the pytest plugin stays cheap.
"""
