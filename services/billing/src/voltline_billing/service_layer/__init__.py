"""Use cases of the billing service. Empty until its issue is built."""
