"""voltline chassis: the cross-cutting plumbing every voltline service shares.

Settings, JSON logging, metrics, problem+json errors, bearer auth, health endpoints and the uvicorn
runner live here so the six services only contain domain code.
"""

from voltline_chassis.app import API_PREFIX, Lifespan, create_app
from voltline_chassis.health import ReadinessCheck
from voltline_chassis.logging import bind_context, configure_logging, get_logger
from voltline_chassis.metrics import counter, gauge, histogram
from voltline_chassis.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
from voltline_chassis.runner import make_server, serve
from voltline_chassis.security import (
    AdminPrincipal,
    ChainVerifier,
    OperatorPrincipal,
    Principal,
    Role,
    StaticTokenVerifier,
    TokenVerifier,
    ViewerPrincipal,
    authenticate,
    require_role,
)
from voltline_chassis.settings import ServiceSettings
from voltline_chassis.version import VERSION

__all__ = [
    "API_PREFIX",
    "PROBLEM_MEDIA_TYPE",
    "VERSION",
    "AdminPrincipal",
    "ChainVerifier",
    "Lifespan",
    "OperatorPrincipal",
    "Principal",
    "Problem",
    "ReadinessCheck",
    "Role",
    "ServiceSettings",
    "StaticTokenVerifier",
    "TokenVerifier",
    "ViewerPrincipal",
    "authenticate",
    "bind_context",
    "configure_logging",
    "counter",
    "create_app",
    "gauge",
    "get_logger",
    "histogram",
    "install_problem_handlers",
    "make_server",
    "require_role",
    "serve",
]
