"""Channels: the ways a contact reaches the city or the city reaches a resident."""

import attrs


@attrs.frozen
class Channel:
    """One intake and/or outbound channel, registered by a plugin."""

    code: str
    """Short stable code stored on cases, e.g. ``phone`` or ``walk_in``."""
    name: str
    """Name shown to staff."""
    inbound: bool = True
    """Contacts arrive this way and become cases."""
    outbound: bool = False
    """The city can send messages (notifications, survey invitations) this way."""
    description: str = ""
