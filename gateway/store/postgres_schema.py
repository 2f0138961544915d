"""The PostgreSQL schema, one script per version; ``hostgate_schema`` says which are applied.

Identifiers are ``COLLATE "C"`` so that ordering (fan-out cursors, exports) is byte
order, as in SQLite, whatever the database's default collation.
"""

from __future__ import annotations

MIGRATIONS = [
    # version 1: everything SQLite has at its version 6
    """
    CREATE TABLE disclosures (
        business_id TEXT COLLATE "C" NOT NULL,
        revision BIGINT NOT NULL,
        fingerprint TEXT NOT NULL,
        hosting_fingerprint TEXT NOT NULL,
        document BYTEA NOT NULL,
        jws TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (business_id, revision)
    );
    CREATE TABLE outbox (
        seq BIGSERIAL PRIMARY KEY,
        business_id TEXT COLLATE "C" NOT NULL,
        kind TEXT NOT NULL,
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BYTEA NOT NULL,
        cursor TEXT COLLATE "C",
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE chats (
        business_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        opened_at DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (business_id, user_id)
    );
    CREATE INDEX chats_by_user ON chats (user_id);
    CREATE TABLE messages (
        business_id TEXT COLLATE "C" NOT NULL,
        message_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        direction TEXT NOT NULL,
        status TEXT NOT NULL,
        revision BIGINT NOT NULL,
        failure TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (business_id, direction, message_id)
    );
    CREATE INDEX messages_by_user ON messages (user_id);
    CREATE INDEX messages_by_age ON messages (business_id, created_at);
    CREATE TABLE message_events (
        id BIGSERIAL PRIMARY KEY,
        business_id TEXT COLLATE "C" NOT NULL,
        direction TEXT NOT NULL,
        message_id TEXT COLLATE "C" NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX message_events_by_message ON message_events (business_id, direction, message_id);
    CREATE TABLE idempotency (
        business_id TEXT COLLATE "C" NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        response BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (business_id, key)
    );
    CREATE TABLE processed_events (
        event_type TEXT NOT NULL,
        event_id TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (event_type, event_id)
    );
    CREATE INDEX processed_events_by_age ON processed_events (at);
    CREATE TABLE consents (
        business_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        decision TEXT NOT NULL,
        decided_at DOUBLE PRECISION NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (business_id, user_id)
    );
    CREATE TABLE notices_sent (
        business_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        revision BIGINT NOT NULL,
        reason TEXT NOT NULL,
        notice_id TEXT COLLATE "C" NOT NULL,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX notices_sent_by_user ON notices_sent (user_id);
    CREATE INDEX notices_sent_by_business ON notices_sent (business_id, at);
    CREATE TABLE endpoint_health (
        business_id TEXT COLLATE "C" PRIMARY KEY,
        failing_since DOUBLE PRECISION,
        disabled_at DOUBLE PRECISION,
        reason TEXT
    );
    CREATE TABLE audit_staged (
        id BIGSERIAL PRIMARY KEY,
        record BYTEA NOT NULL
    );
    """,
    # v2: the transparency log of disclosures (see the SQLite v7 script).
    """
    CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL);
    INSERT INTO log_state (id, size) VALUES (1, 0);
    CREATE TABLE log_leaves (
        idx BIGINT PRIMARY KEY,
        business_id TEXT COLLATE "C" NOT NULL,
        revision BIGINT NOT NULL,
        entry BYTEA NOT NULL,
        leaf_hash BYTEA NOT NULL,
        UNIQUE (business_id, revision)
    );
    CREATE TABLE log_checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
    """,
    # v3: leases (see the SQLite v8 script).
    """
    CREATE TABLE leases (
        name TEXT COLLATE "C" PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX outbox_by_business ON outbox (business_id, seq);
    """,
    # v4: console sessions (see the SQLite v9 script).
    """
    CREATE TABLE console_sessions (
        token_hash TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    """,
    # v5: rate-limit buckets (see the SQLite v10 script).
    """
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    """,
    # v6: the first history entry is implied by the message's row (see the SQLite v11 script).
    """
    DELETE FROM message_events WHERE status = 'accepted';
    """,
]
