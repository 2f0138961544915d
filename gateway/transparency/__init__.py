"""The transparency log of hosting disclosures: RFC 6962 Merkle trees, C2SP checkpoints and tiles."""
