"""The billing service's edges: its database, its payment providers."""
