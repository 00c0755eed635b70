"""voltline console: the operators' web console (server-rendered pages over the services' public APIs)."""
