"""The web console: live notice preview for the network, audit viewer for compliance."""
