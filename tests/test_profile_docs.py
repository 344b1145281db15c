"""docs/city-profiles.md documents every key and column the city profile loaders accept.

The key names come from the loaders' own tables, so a key added to a loader without a line
in the reference fails here. A name counts as documented when it appears backticked
(`` `key` ``) somewhere in the page.
"""

from pathlib import Path

import pytest

from civiccrm import profiles
from civiccrm.profiles import sla as profile_sla
from civiccrm.profiles import surveys as survey_profile
from civiccrm.profiles import duplicates as profile_duplicates
from civiccrm.profiles import integrations as profile_integrations
from civiccrm.domain import calls as call_domain
from civiccrm.domain.calendar import WEEKDAYS
from civiccrm.services import public_reports
from civiccrm.services.surveys import invitations as survey_invitations
from civiccrm.profiles import costs as profile_costs
from civiccrm_plugins import (budget_pack, council_pack, email_channel, employee_survey_pack, kcstat_pack,
                              resident_survey_pack, tulsa_pack)

DOC = Path(__file__).resolve().parents[1] / "docs" / "city-profiles.md"

# Columns the loader spells out inline in _load_taxonomy rather than in a named tuple.
DEPARTMENT_COLUMNS = ("code", "name")
WORK_GROUP_COLUMNS = ("code", "name", "department")


def accepted_keys() -> dict[str, tuple[str, ...]]:
    """Where each key comes from -> the key names the loaders accept there."""
    return {
        "profile.toml top-level tables (profiles._TOP)": tuple(profiles._TOP),
        "[city] (profiles._CITY)": tuple(profiles._CITY),
        "[taxonomy] (profiles._TAXONOMY)": tuple(profiles._TAXONOMY),
        "[calendars.<code>] (profiles._CALENDAR)": tuple(profiles._CALENDAR),
        "[calendars.<code>] hours weekdays (calendar.WEEKDAYS)": tuple(WEEKDAYS),
        "[calendars.<code>.holidays] (profiles._HOLIDAYS)": tuple(profiles._HOLIDAYS),
        "[geo] (profiles._GEO)": tuple(profiles._GEO),
        "[open311] (profiles._OPEN311)": tuple(profiles._OPEN311),
        "[open_data] (profiles._OPEN_DATA)": tuple(profiles._OPEN_DATA),
        "departments.csv": DEPARTMENT_COLUMNS,
        "work_groups.csv": WORK_GROUP_COLUMNS,
        "service_types.csv (profiles._SERVICE_TYPE_COLUMNS)": profiles._SERVICE_TYPE_COLUMNS,
        "service_types.csv (profiles._SERVICE_TYPE_OPTIONAL)": profiles._SERVICE_TYPE_OPTIONAL,
        "service_attributes.csv (profiles._ATTRIBUTE_COLUMNS)": profiles._ATTRIBUTE_COLUMNS,
        "service_attributes.csv (profiles._ATTRIBUTE_OPTIONAL)": profiles._ATTRIBUTE_OPTIONAL,
        "[sla] (profile_sla.SLA_KEYS)": tuple(profile_sla.SLA_KEYS),
        "sla_policies.csv (profile_sla.POLICY_COLUMNS)": profile_sla.POLICY_COLUMNS,
        "sla_policies.csv (profile_sla.POLICY_OPTIONAL)": profile_sla.POLICY_OPTIONAL,
        "[duplicates] (profile_duplicates.DUPLICATES_KEYS)": tuple(profile_duplicates.DUPLICATES_KEYS),
        "duplicate_rules.csv (profile_duplicates.RULE_COLUMNS)": profile_duplicates.RULE_COLUMNS,
        "duplicate_rules.csv (profile_duplicates.RULE_OPTIONAL)": profile_duplicates.RULE_OPTIONAL,
        "[integrations.<name>] (profile_integrations.DESTINATION_KEYS)": tuple(profile_integrations.DESTINATION_KEYS),
        "status map CSV (profile_integrations.STATUS_MAP_COLUMNS)": profile_integrations.STATUS_MAP_COLUMNS,
        "status map CSV (profile_integrations.STATUS_MAP_OPTIONAL)": profile_integrations.STATUS_MAP_OPTIONAL,
        "[[surveys]] (survey_profile._SURVEY)": tuple(survey_profile._SURVEY),
        "[[surveys.questions]] (survey_profile._QUESTION)": tuple(survey_profile._QUESTION),
        "[[surveys.targets]] (survey_profile._TARGET)": tuple(survey_profile._TARGET),
        "[customers.<department>] (survey_profile._CUSTOMERS)": tuple(survey_profile._CUSTOMERS),
        "survey item CSV (survey_profile._ITEM_COLUMNS)": survey_profile._ITEM_COLUMNS,
        "survey item CSV (survey_profile._ITEM_OPTIONAL)": survey_profile._ITEM_OPTIONAL,
        "action plans CSV (survey_profile._PLAN_COLUMNS)": survey_profile._PLAN_COLUMNS,
        "action plans CSV (survey_profile._PLAN_OPTIONAL)": survey_profile._PLAN_OPTIONAL,
        "[calls] (domain.calls.SETTINGS_KEYS)": tuple(call_domain.SETTINGS_KEYS),
        "[calls.formats.<name>] (domain.calls.FORMAT_KEYS)": tuple(call_domain.FORMAT_KEYS),
        "[plugins.survey_dispatch] (services.surveys.DEFAULTS)": tuple(survey_invitations.DEFAULTS),
        "[plugins.council_monthly] (council_pack.DEFAULTS)": tuple(council_pack.DEFAULTS),
        "[plugins.email] (email_channel.DEFAULTS)": tuple(email_channel.DEFAULTS),
        "[plugins.public_pages] (public_reports.DEFAULTS)": tuple(public_reports.DEFAULTS),
        "[plugins.kcstat] (kcstat_pack.DEFAULTS)": tuple(kcstat_pack.DEFAULTS),
        "[plugins.tulsa_customer_service] (tulsa_pack.DEFAULTS)": tuple(tulsa_pack.DEFAULTS),
        "[plugins.resident_survey] (resident_survey_pack.DEFAULTS)": tuple(resident_survey_pack.DEFAULTS),
        "[plugins.employee_survey] (employee_survey_pack.DEFAULTS)": tuple(employee_survey_pack.DEFAULTS),
        "[plugins.budget] (budget_pack.DEFAULTS)": tuple(budget_pack.DEFAULTS),
        "cost table CSV (profile_costs.COST_COLUMNS)": profile_costs.COST_COLUMNS,
        "cost table CSV (profile_costs.COST_OPTIONAL)": profile_costs.COST_OPTIONAL,
    }


def missing_keys(text: str, keys) -> list[str]:
    """The keys that do not appear backticked in ``text``."""
    return [key for key in keys if f"`{key}`" not in text]


def test_every_accepted_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = {where: gaps for where, keys in accepted_keys().items() if (gaps := missing_keys(text, keys))}
    assert not missing, f"{DOC.name} does not document (as `key`): {missing}"


def test_the_key_tables_are_not_empty():
    """Guard against a renamed loader table silently checking nothing."""
    for where, keys in accepted_keys().items():
        assert keys, where
    assert sum(len(k) for k in accepted_keys().values()) > 100


def test_checker_reports_a_missing_key():
    text = "`slug` and `name` are documented; timezone is mentioned but not backticked."
    assert missing_keys(text, ("slug", "name", "timezone")) == ["timezone"]
    assert missing_keys(text, ("slug",)) == []


@pytest.mark.parametrize("table", ["_CITY", "_TAXONOMY", "_GEO"])
def test_checker_fails_on_the_doc_without_a_key(table):
    """Removing one documented key from the page makes the check report exactly that key."""
    text = DOC.read_text(encoding="utf-8")
    key = next(iter(getattr(profiles, table)))
    stripped = text.replace(f"`{key}`", key)
    assert key in missing_keys(stripped, getattr(profiles, table))


def test_every_accepted_value_is_documented():
    """The fixed values the loaders accept for bases, clock starts, statuses, datatypes and survey types."""
    from civiccrm.domain.attributes import Datatype
    from civiccrm.domain.sla import PAUSABLE, ClockStart
    from civiccrm.domain.surveys import ActionStatus, QuestionType
    from civiccrm.domain.taxonomy import SlaBasis

    values = {
        "SlaBasis.ALL": SlaBasis.ALL, "ClockStart.ALL": ClockStart.ALL, "sla.PAUSABLE": PAUSABLE,
        "Datatype.ALL": Datatype.ALL, "survey_profile.AUDIENCES": survey_profile.AUDIENCES,
        "QuestionType": tuple(t.value for t in QuestionType), "ActionStatus": tuple(s.value for s in ActionStatus),
    }
    text = DOC.read_text(encoding="utf-8")
    missing = {where: gaps for where, keys in values.items() if (gaps := missing_keys(text, keys))}
    assert not missing, f"{DOC.name} does not document (as `value`): {missing}"
