"""The tamper-evident audit trail: schema per event, pseudonyms, hash chain, signed checkpoints."""
