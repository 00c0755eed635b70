"""voltline's Kafka bus: topic setup, acknowledged publishing, at-least-once consumers, request/reply.

See libs/bus/README.md for the guarantees.
"""

from voltline_bus import _no_autocreate
from voltline_bus._retry import Backoff
from voltline_bus.admin import TopicSpec, ensure_topics
from voltline_bus.commands import StationCommandClient
from voltline_bus.config import BusConfig
from voltline_bus.consumer import EventConsumer, Handler, rewind_all_consumers
from voltline_bus.dispatch import Dispatcher, InboxGuard, TypedHandler
from voltline_bus.errors import BrokerUnavailable, BusError, PublishError, RequestTimeout, TopicSetupError
from voltline_bus.follow import FollowedRecord, TopicFollower
from voltline_bus.logcontext import event_log_context, merge_event_context
from voltline_bus.producer import Outgoing, Producer
from voltline_bus.ready import BrokerProbe, check_broker
from voltline_bus.rpc import RequestReplyClient, reply
from voltline_bus.watch import BrokerWatch

_no_autocreate.install()

__all__ = [
    "Backoff",
    "BrokerProbe",
    "BrokerUnavailable",
    "BrokerWatch",
    "BusConfig",
    "BusError",
    "Dispatcher",
    "EventConsumer",
    "FollowedRecord",
    "Handler",
    "InboxGuard",
    "Outgoing",
    "Producer",
    "PublishError",
    "RequestReplyClient",
    "RequestTimeout",
    "StationCommandClient",
    "TopicFollower",
    "TopicSetupError",
    "TopicSpec",
    "TypedHandler",
    "check_broker",
    "ensure_topics",
    "event_log_context",
    "merge_event_context",
    "reply",
    "rewind_all_consumers",
]
