"""The standard intake and outbound channels of a 311 centre."""

from civiccrm import hookimpl
from civiccrm.domain.outbox import MESSAGE_FAMILY, Deliverer, DeliveryRefused, MessagePayload
from civiccrm.registries import Channel

STANDARD_CHANNELS = (
    Channel("phone", "Phone", description="A call to the 311 centre, including voicemail."),
    Channel("email", "E-mail", outbound=True, description="A message to the centre's mailbox."),
    Channel("web", "Web", description="The city's web form or chat."),
    Channel("app", "Mobile app / Open311", description="A mobile app or another system over Open311."),
    Channel("sms", "Text message (SMS)", outbound=True),
    Channel("social", "Social media", description="Twitter and other social networks."),
    Channel("fax", "Fax"),
    Channel("mail", "Mail", description="A letter."),
    Channel("walk_in", "Walk-in", description="In person at a city counter."),
    Channel("staff", "Staff-generated", description="Raised by city staff: inspectors, crews, other systems."),
    Channel("other", "Other / unknown", description="Imported cases whose source the city did not record or map."),
)


@hookimpl
def register_channels(register):
    for channel in STANDARD_CHANNELS:
        register(channel)


def deliver_by_channel(deployment, item) -> str | None:
    """An outbox message on a channel whose plugin sends (``Channel.send``) and registers no deliverer of its own."""
    message = MessagePayload.from_dict(item.payload)
    channel = deployment.registry.sender(message.channel)
    if channel is None:
        raise DeliveryRefused(f"no plugin sends on the {message.channel!r} channel (a Channel with send, or a "
                              f"deliverer for message:{message.channel})")
    receipt = channel.send(deployment, message.address, message.subject, message.body)
    return None if receipt is None else str(receipt)


@hookimpl
def register_deliverers(register):
    """Messages on any channel that sends, for the channels without a deliverer of their own."""
    register(Deliverer(MESSAGE_FAMILY, deliver_by_channel, "messages handed to the channel's send()"))
