from voltline_analytics.adapters.orm import metadata
from voltline_store.alembic_env import run

run(target_metadata=metadata)
