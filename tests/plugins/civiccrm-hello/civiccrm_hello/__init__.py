"""civiccrm-hello: a channel, a command and a city, found through the ``civiccrm`` entry point."""

from pathlib import Path

import click

from civiccrm import hookimpl
from civiccrm.registries import Channel, CityProfileEntry

HERE = Path(__file__).resolve().parent


@hookimpl
def register_channels(register):
    register(Channel("carrier_pigeon", "Carrier pigeon", outbound=True, description="A note on a pigeon's leg."))


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.argument("name", default="world")
    def hello(name):
        """Say hello from the civiccrm-hello plugin."""
        click.echo(f"Hello, {name}, from civiccrm-hello!")


@hookimpl
def register_city_profiles(register):
    register(CityProfileEntry("shelbyville", HERE / "shelbyville"))
