"""What the gateway tells its operators: Prometheus metrics (``metrics``)."""
