"""Pure domain logic of the session service (no I/O). Empty until its issue is built."""
