"""Use cases of the billing service, each one or a few short transactions."""
