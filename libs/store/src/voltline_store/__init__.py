"""voltline's persistence layer: one URL picks PostgreSQL or SQLite; migrations run at start-up; a
transactional outbox and an idempotent inbox make "change state, then tell the bus" exactly-once in effect.
"""

from voltline_store.batch import Batch, BatchFailed, TransactionBatch, current_batch, inbox_guard
from voltline_store.engine import (
    check_database,
    create_engine,
    normalize_url,
    read_only_session_factory,
    session_factory,
    warm_pool,
)
from voltline_store.migrations import alembic_config, run_migrations
from voltline_store.outbox import (
    Inbox,
    Outbox,
    OutboxTables,
    create_outbox_tables_op,
    define_outbox_tables,
    drop_outbox_tables_op,
    inbox_table,
    outbox_table,
    purge_inbox,
)
from voltline_store.plans import custom_plans
from voltline_store.reader import Reader
from voltline_store.relay import OutboxRelay, Publisher
from voltline_store.results import rowcount
from voltline_store.types import UTCDateTime
from voltline_store.uow import UnitOfWork

__all__ = [
    "Batch",
    "BatchFailed",
    "Inbox",
    "Outbox",
    "OutboxRelay",
    "OutboxTables",
    "Publisher",
    "Reader",
    "TransactionBatch",
    "UTCDateTime",
    "UnitOfWork",
    "alembic_config",
    "check_database",
    "create_engine",
    "create_outbox_tables_op",
    "current_batch",
    "custom_plans",
    "define_outbox_tables",
    "drop_outbox_tables_op",
    "inbox_guard",
    "inbox_table",
    "normalize_url",
    "outbox_table",
    "purge_inbox",
    "read_only_session_factory",
    "rowcount",
    "run_migrations",
    "session_factory",
    "warm_pool",
]
