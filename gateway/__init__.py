"""hostgate: a business-hosting gateway that discloses where chats are hosted before delivery."""

__version__ = "0.1.0"
