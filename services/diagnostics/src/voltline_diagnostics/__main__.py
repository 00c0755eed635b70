"""`python -m voltline_diagnostics`: run the diagnostics service."""

from voltline_chassis.runner import serve

from voltline_diagnostics.bootstrap import build
from voltline_diagnostics.settings import DiagnosticsSettings

settings = DiagnosticsSettings()
serve(build(settings), settings)
