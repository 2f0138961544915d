"""Hosting adapters: where a business's chats are hosted, and how envelopes get there."""
