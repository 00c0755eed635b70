"""`python -m voltline_gateway`: run the gateway (OCPP WebSocket server and its API)."""

from voltline_chassis.runner import serve

from voltline_gateway.bootstrap import build
from voltline_gateway.settings import GatewaySettings

settings = GatewaySettings()
serve(build(settings), settings)
