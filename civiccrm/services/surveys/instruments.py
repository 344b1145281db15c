"""Survey instruments of a deployment: the profile's and those plugins register."""

from civiccrm.domain.surveys import SurveyInstrument


def instruments(deployment) -> dict[str, SurveyInstrument]:
    """The profile's instruments and those plugins register."""
    return deployment.registry.survey_instruments(deployment.profile)


def instrument(deployment, code: str) -> SurveyInstrument:
    return deployment.registry.survey_instrument(deployment.profile, code)
