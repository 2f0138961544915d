"""Typed application state shared by handlers."""

from __future__ import annotations

from aiohttp import web

from gateway.audit.staging import AuditDrain
from gateway.audit.trail import AuditTrail
from gateway.audit.witness import CheckpointForwarder
from gateway.bridge.bulkhead import Parking
from gateway.bridge.delivery_control import DeliveryControl
from gateway.bridge.outbound import OutboundService
from gateway.broker.consumer import QueueConsumer
from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Publisher
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import DisclosureService
from gateway.http.business_limits import BusinessLimits
from gateway.http.ratelimit import RateLimiter
from gateway.relay.relay import OutboxRelay
from gateway.reload import ConfigHolder
from gateway.rights.sweeper import RetentionSweeper
from gateway.store import Store
from gateway.telemetry.tracing import Tracing
from gateway.transparency.log import TransparencyLog

CONFIG = web.AppKey("config", ConfigHolder)
BROKER = web.AppKey("broker", BrokerLink)
STORE = web.AppKey("store", Store)
SIGNING_KEYS = web.AppKey("signing_keys", KeyRing)
DISCLOSURES = web.AppKey("disclosures", DisclosureService)
PUBLISHER = web.AppKey("publisher", Publisher)
RELAY = web.AppKey("relay", OutboxRelay)
AUDIT = web.AppKey("audit", AuditTrail)
AUDIT_DRAIN = web.AppKey("audit_drain", AuditDrain)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
BUSINESS_LIMITS = web.AppKey("business_limits", BusinessLimits)
OUTBOUND_SERVICE = web.AppKey("outbound_service", OutboundService)
INBOUND_CONSUMER = web.AppKey("inbound_consumer", QueueConsumer)
RECEIPT_CONSUMER = web.AppKey("receipt_consumer", QueueConsumer)
STATUS_CONSUMER = web.AppKey("status_consumer", QueueConsumer)
# The parking lots of the inbound and status consumers (their queues are consumed only while parked).
PARKINGS: web.AppKey[tuple[Parking, ...]] = web.AppKey("parkings")
CONSENT_CONSUMER = web.AppKey("consent_consumer", QueueConsumer)
# The consumers of hostgate's own queues, each probing its queue for readiness.
CONSUMERS: web.AppKey[tuple[QueueConsumer, ...]] = web.AppKey("consumers")
SWEEPER = web.AppKey("sweeper", RetentionSweeper)
WITNESS = web.AppKey("witness", CheckpointForwarder)
TRANSPARENCY = web.AppKey("transparency", TransparencyLog)
TRACING = web.AppKey("tracing", Tracing)
DELIVERY_CONTROL = web.AppKey("delivery_control", DeliveryControl)
