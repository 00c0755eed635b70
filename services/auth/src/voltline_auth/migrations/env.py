from voltline_auth.adapters.orm import metadata
from voltline_store.alembic_env import run

run(target_metadata=metadata)
