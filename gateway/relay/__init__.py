"""The outbox relay: the domain side of publishing (barriers, fan-out, audit), over the broker's publisher."""
