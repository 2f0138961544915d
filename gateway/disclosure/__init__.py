"""Disclosures: what users are told about where a business hosts its chats."""
