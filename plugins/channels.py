"""The standard intake and outbound channels of a 311 centre."""

from civiccrm import hookimpl
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
