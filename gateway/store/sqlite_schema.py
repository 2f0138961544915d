"""The SQLite schema, one script per version; ``PRAGMA user_version`` says which are applied."""

from __future__ import annotations

MIGRATIONS = [
    # version 1
    """
    CREATE TABLE disclosures (
        business_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        hosting_fingerprint TEXT NOT NULL,
        document BLOB NOT NULL,
        jws TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (business_id, revision)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        business_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        cursor TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE chats (
        business_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        opened_at REAL NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (business_id, user_id)
    ) WITHOUT ROWID;
    """,
    # version 2: the network bridge
    """
    CREATE TABLE messages (
        business_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        status TEXT NOT NULL,
        revision INTEGER NOT NULL,
        failure TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (business_id, message_id)
    ) WITHOUT ROWID;
    CREATE TABLE message_events (
        business_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX message_events_by_message ON message_events (business_id, message_id);
    CREATE TABLE idempotency (
        business_id TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        response BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (business_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE processed_events (
        event_id TEXT PRIMARY KEY,
        at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # version 3: users' rights
    """
    CREATE TABLE consents (
        business_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        decided_at REAL NOT NULL,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (business_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE notices_sent (
        business_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        reason TEXT NOT NULL,
        notice_id TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX notices_sent_by_user ON notices_sent (user_id);
    CREATE INDEX notices_sent_by_business ON notices_sent (business_id, at);
    CREATE INDEX messages_by_user ON messages (user_id);
    CREATE INDEX messages_by_age ON messages (business_id, created_at);
    CREATE INDEX chats_by_user ON chats (user_id);
    """,
    # version 4: endpoint health
    """
    CREATE TABLE endpoint_health (
        business_id TEXT PRIMARY KEY,
        failing_since REAL,
        disabled_at REAL,
        reason TEXT
    ) WITHOUT ROWID;
    """,
    # version 5: audit records staged with the work they record, drained into the trail in order
    """
    CREATE TABLE audit_staged (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        record BLOB NOT NULL
    );
    """,
    # version 6: the storage port. Status history gets its own ordering column (rowid is
    # SQLite's alone); a message is keyed by its direction too, so a user's message whose id
    # equals a business's message id never touches it; processed events are keyed by
    # (type, id), so a consent and a receipt that happen to share an id are both processed.
    """
    CREATE TABLE messages_v6 (
        business_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        status TEXT NOT NULL,
        revision INTEGER NOT NULL,
        failure TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (business_id, direction, message_id)
    ) WITHOUT ROWID;
    INSERT INTO messages_v6 SELECT business_id, message_id, user_id, direction, status, revision, failure,
        created_at, updated_at FROM messages;
    CREATE TABLE messages_v6_directions AS SELECT business_id, message_id, direction FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v6 RENAME TO messages;
    CREATE INDEX messages_by_user ON messages (user_id);
    CREATE INDEX messages_by_age ON messages (business_id, created_at);
    CREATE TABLE message_events_v6 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        business_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        at REAL NOT NULL
    );
    INSERT INTO message_events_v6 (id, business_id, direction, message_id, status, reason, at)
        SELECT e.rowid, e.business_id, coalesce(m.direction, 'outbound'), e.message_id, e.status,
            e.reason, e.at
        FROM message_events e LEFT JOIN messages_v6_directions m
        ON m.business_id = e.business_id AND m.message_id = e.message_id ORDER BY e.rowid;
    DROP TABLE message_events;
    DROP TABLE messages_v6_directions;
    ALTER TABLE message_events_v6 RENAME TO message_events;
    CREATE INDEX message_events_by_message ON message_events (business_id, direction, message_id);
    CREATE TABLE processed_events_v6 (
        event_type TEXT NOT NULL,
        event_id TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (event_type, event_id)
    ) WITHOUT ROWID;
    INSERT INTO processed_events_v6 (event_type, event_id, at) SELECT '', event_id, at FROM processed_events;
    DROP TABLE processed_events;
    ALTER TABLE processed_events_v6 RENAME TO processed_events;
    CREATE INDEX processed_events_by_age ON processed_events (at);
    """,
    # v7: the transparency log of disclosures. One row holds the log's size: appending bumps it
    # (a row lock on PostgreSQL), so one sequence holds however many processes append.
    """
    CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
    INSERT INTO log_state (id, size) VALUES (1, 0);
    CREATE TABLE log_leaves (
        idx INTEGER PRIMARY KEY,
        business_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        entry BLOB NOT NULL,
        leaf_hash BLOB NOT NULL,
        UNIQUE (business_id, revision)
    );
    CREATE TABLE log_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, at REAL NOT NULL);
    """,
    # v8: leases (gateway/store/leases.py): one holder per named job across processes.
    """
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL);
    CREATE INDEX outbox_by_business ON outbox (business_id, seq);
    """,
    # v9: console sessions, shared by every process (gateway/store/sessions.py).
    """
    CREATE TABLE console_sessions (
        token_hash TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # v10: rate-limit buckets shared by every process (gateway/store/rates.py).
    """
    CREATE TABLE rate_buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL);
    """,
    # v11: a message's first history entry (accepted, at its created_at) is implied by its row
    # (gateway/store/messages.py): one statement less per message. "accepted" is only ever first.
    """
    DELETE FROM message_events WHERE status = 'accepted';
    """,
]
