"""The first run: stand-in business hosts on loopback so the example config delivers end to end."""
