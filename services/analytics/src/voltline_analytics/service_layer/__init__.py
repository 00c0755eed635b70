"""Use cases of the analytics service. Empty until its issue is built."""
