"""The auth service's edges: its database tables, password hashing."""
