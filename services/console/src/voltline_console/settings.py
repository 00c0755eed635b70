"""Console settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from pydantic import Field
from voltline_chassis.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    service_name: str = "console"
    http_port: int = Field(default=8006, ge=0, le=65535)
    # The services' public APIs the pages are built from (the console has no database of its own).
    console_auth_url: str = "http://127.0.0.1:8001"
    console_session_url: str = "http://127.0.0.1:8002"
    console_billing_url: str = "http://127.0.0.1:8003"
    console_diagnostics_url: str = "http://127.0.0.1:8004"
    console_analytics_url: str = "http://127.0.0.1:8005"
    # How long a service may take to answer one page's call (a maintenance command waits for its station).
    console_backend_timeout_s: float = Field(default=45.0, gt=0)
    # A login ends after this long without a request, and in any case after console_session_max_s.
    console_session_idle_s: float = Field(default=8 * 3600, gt=0)
    console_session_max_s: float = Field(default=24 * 3600, gt=0)
    # Logged-in users at once (sessions live in memory: one replica, or sticky sessions).
    console_max_sessions: int = Field(default=10_000, ge=1)
    # How often the live parts of a page (stations' status) are refreshed, in seconds.
    console_poll_s: float = Field(default=2.0, ge=0.5, le=60)
    # Mark the session cookie Secure (set it when the console is served over HTTPS, as it is in production).
    console_secure_cookie: bool = False

    def service_urls(self) -> dict[str, str]:
        return {
            "auth": self.console_auth_url,
            "session": self.console_session_url,
            "billing": self.console_billing_url,
            "diagnostics": self.console_diagnostics_url,
            "analytics": self.console_analytics_url,
        }
