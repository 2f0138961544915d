"""The HTTP API: routes, error mapping, health."""
