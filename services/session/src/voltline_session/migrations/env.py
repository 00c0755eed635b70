from voltline_session.adapters.orm import metadata
from voltline_store.alembic_env import run

run(target_metadata=metadata)
