"""RabbitMQ: the connection, topology, publisher and consumers."""
