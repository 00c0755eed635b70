"""The gateway's edges: the OCPP WebSocket server, payload validation and the bus."""
