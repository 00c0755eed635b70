"""`python -m voltline_console`: run the operators' web console."""

from voltline_chassis.runner import serve

from voltline_console.bootstrap import build
from voltline_console.settings import ConsoleSettings

settings = ConsoleSettings()
serve(build(settings), settings)
