import voltline_billing.adapters.cost_repository  # noqa: F401  (its table is in the metadata too)
from voltline_billing.adapters.orm import metadata
from voltline_store.alembic_env import run

run(target_metadata=metadata)
