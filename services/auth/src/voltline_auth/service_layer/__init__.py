"""Use cases of the auth service, each one transaction."""
