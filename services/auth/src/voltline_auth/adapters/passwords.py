"""Moved to service_layer.passwords (hashing a station password is a rule of the service, not I/O)."""

from voltline_auth.service_layer.passwords import generate_password, hash_password

__all__ = ["generate_password", "hash_password"]
