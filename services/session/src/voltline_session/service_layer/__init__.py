"""Use cases of the session service. Empty until its issue is built."""
