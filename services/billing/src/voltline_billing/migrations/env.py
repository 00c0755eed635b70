from voltline_store.alembic_env import run

run(target_metadata=None)
