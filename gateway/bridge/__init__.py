"""The network bridge: sealed messages in, business messages out, receipts both ways."""
