"""`python -m voltline_session`: run the session service."""

from voltline_chassis.runner import serve

from voltline_session.bootstrap import build
from voltline_session.settings import SessionSettings

settings = SessionSettings()
serve(build(settings), settings)
