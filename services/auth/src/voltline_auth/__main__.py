"""`python -m voltline_auth`: run the auth service."""

from voltline_chassis.runner import serve

from voltline_auth.bootstrap import build
from voltline_auth.settings import AuthSettings

settings = AuthSettings()
serve(build(settings), settings)
