"""`python -m voltline_analytics`: run the analytics service."""

from voltline_chassis.runner import serve

from voltline_analytics.bootstrap import build
from voltline_analytics.settings import AnalyticsSettings

settings = AnalyticsSettings()
serve(build(settings), settings)
