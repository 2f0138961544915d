"""A unit of work built from one :class:`Sql`: every repository bound to the same transaction."""

from __future__ import annotations

from gateway.store.audit import SqlAuditStaging
from gateway.store.chats import SqlChats
from gateway.store.consents import SqlConsents
from gateway.store.decisions import SqlDecisions
from gateway.store.disclosures import SqlDisclosures
from gateway.store.endpoints import SqlEndpoints
from gateway.store.export import SqlExport
from gateway.store.leases import SqlLeases
from gateway.store.log import SqlLog
from gateway.store.messages import SqlMessages, SqlProcessedEvents
from gateway.store.notices import SqlNotices
from gateway.store.outbox import SqlOutbox
from gateway.store.port import (
    AuditStaging,
    Chats,
    Consents,
    Decisions,
    Disclosures,
    Endpoints,
    Export,
    Leases,
    Log,
    Messages,
    Notices,
    Outbox,
    ProcessedEvents,
    Rates,
    Retention,
    Sessions,
)
from gateway.store.rates import SqlRates
from gateway.store.retention import SqlRetention
from gateway.store.sessions import SqlSessions
from gateway.store.sql import Sql


class SqlUnit:
    """The repositories of one connection (built once per connection, reused by each unit on it)."""

    def __init__(self, sql: Sql) -> None:
        self.disclosures: Disclosures = SqlDisclosures(sql)
        self.outbox: Outbox = SqlOutbox(sql)
        self.messages: Messages = SqlMessages(sql)
        self.processed: ProcessedEvents = SqlProcessedEvents(sql)
        self.chats: Chats = SqlChats(sql)
        self.consents: Consents = SqlConsents(sql)
        self.endpoints: Endpoints = SqlEndpoints(sql)
        self.notices: Notices = SqlNotices(sql)
        self.audit: AuditStaging = SqlAuditStaging(sql)
        self.retention: Retention = SqlRetention(sql)
        self.export: Export = SqlExport(sql)
        self.log: Log = SqlLog(sql)
        self.leases: Leases = SqlLeases(sql)
        self.sessions: Sessions = SqlSessions(sql)
        self.rates: Rates = SqlRates(sql)
        self.decisions: Decisions = SqlDecisions(sql)
