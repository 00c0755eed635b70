"""`python -m voltline_billing`: run the billing service."""

from voltline_chassis.runner import serve

from voltline_billing.bootstrap import build
from voltline_billing.settings import BillingSettings

settings = BillingSettings()
serve(build(settings), settings)
