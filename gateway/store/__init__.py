"""The embedded store (SQLite): disclosure revisions, the outbox, open chats."""
