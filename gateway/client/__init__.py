"""The network's client SDK: consume disclosures and notices, verify them, render them."""

from gateway.client.network import NetworkClient
from gateway.client.render import render_text
from gateway.client.verifier import Accepted, EventVerifier, Rejected

__all__ = ["Accepted", "EventVerifier", "NetworkClient", "Rejected", "render_text"]
