"""The ``resident-survey`` report pack: the resident satisfaction survey by item, district and demographic.

Per item, the share satisfied with its 95% interval for the city as a whole, beside the
previous wave; the same by council district and by each demographic column the instrument
keeps; and the groups whose interval lies wholly above or below the city's (the survey
report's "more likely to be satisfied" findings). Figures come from
``civiccrm.metrics.surveys.results`` (one wave at a time), the intervals from
``civiccrm.domain.survey_stats`` through it.

Settings, under ``[plugins.resident_survey]``: ``instrument`` (default: the first survey of
the profile imported by waves, i.e. with a ``wave_column``), ``items`` (default: every rated
item), ``headline`` (the item charted by group; default the first item), ``demographics``
(default: every demographic column of the instrument), ``skip_values`` (group values left
out, e.g. ``["9"]`` for "not given"), ``min_sample`` (30) and ``paper`` (Letter).
"""

import re
from datetime import date, datetime

from civiccrm import hookimpl
from civiccrm.errors import CivicError
from civiccrm.metrics.definitions import Metric
from civiccrm.metrics.kcstat import LOW_SAMPLE, Share
from civiccrm.metrics.surveys import DEFINITIONS, results, waves
from civiccrm_plugins import report_charts as charts
from civiccrm_plugins.report_document import (Column, Document, Section, Table, document_frame, document_pack,
                                              survey_pack_settings)

NAME = "resident-survey"
SETTINGS_TABLE = "resident_survey"
DEFAULTS = {"instrument": None, "items": None, "headline": None, "demographics": None, "skip_values": [],
            "min_sample": 30, "paper": "Letter"}

SATISFIED = Metric(
    "resident_satisfied", "satisfied",
    "satisfied = answers at or above the item's acceptable point (4 or 5 on Kansas City's 1-5 scale) / answers "
    "counted in the wave; don't know (9), N/A and blanks are left out",
)
INTERVAL = Metric("interval", "95% interval", DEFINITIONS["interval"])
DIFFERS = Metric(
    "differs_from_city", "differs from the city",
    "a group differs from the city as a whole when their 95% intervals do not overlap: higher when the group's "
    "low end is above the city's high end, lower when its high end is below the city's low end (a cautious "
    "test, the group being part of the city); a low-sample group is listed but flagged",
)
WAVE_CHANGE = Metric(
    "wave_change", "against the previous wave",
    "change = the share satisfied in this wave - the share in the previous wave; higher or lower when the two "
    "waves' 95% intervals do not overlap, else no clear change",
)
WAVE = Metric(
    "wave", "wave",
    "wave = one round of the survey (the instrument's wave column); this wave = the latest dated on or before "
    "the period's last day by the month and year in its name (3QMAR2022 = March 2022), or the last by name "
    "when a wave's name carries no date; previous wave = the one before it",
)
RESIDENT_METRICS = (SATISFIED, INTERVAL, DIFFERS, WAVE_CHANGE, WAVE, LOW_SAMPLE)

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WAVE_DATE = re.compile(r"(?P<month>" + "|".join(_MONTHS) + r")[A-Z]*[-_ ]?(?P<year>(19|20)\d\d)", re.I)
_ISO_MONTH = re.compile(r"(?P<year>(19|20)\d\d)-(?P<month>0[1-9]|1[0-2])")


def wave_date(wave: str) -> date | None:
    """The first day of the month a wave's name gives (``3QMAR2022``, ``2022-03``), else None."""
    found = _WAVE_DATE.search(wave)
    if found:
        return date(int(found["year"]), _MONTHS.index(found["month"].upper()[:3]) + 1, 1)
    found = _ISO_MONTH.search(wave)
    return date(int(found["year"]), int(found["month"]), 1) if found else None


def pick_waves(stored, last_day: date) -> tuple[str | None, str | None]:
    """(this wave, the previous wave) for a period ending on ``last_day`` (see WAVE)."""
    names = sorted(stored)
    dated = {w: wave_date(w) for w in names}
    if names and all(dated.values()):
        names = sorted((w for w in names if dated[w] <= last_day), key=lambda w: (dated[w], w))
    if not names:
        return None, None
    return names[-1], names[-2] if len(names) > 1 else None


def _list_of_strings(where: str, value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CivicError(f"{where}: {value!r} is not a list of names like [\"q1_01\", \"q1_02\"]")
    return value


def settings(deployment) -> dict:
    """Defaults, then ``[plugins.resident_survey]``, checked; the instrument resolved (None if the city has none)."""
    found, where, known = survey_pack_settings(deployment, SETTINGS_TABLE, DEFAULTS)
    code = found["instrument"]
    if code is None:
        code = next((c for c, s in known.items() if s.wave_column), None)
    survey = known.get(code) if code else None
    found["instrument"], found["survey"] = code, survey
    found["skip_values"] = _list_of_strings(f"{where}.skip_values", found["skip_values"])
    if survey is None:
        return found
    rated = [q.code for q in survey.questions if q.is_rated]
    items = rated if found["items"] is None else _list_of_strings(f"{where}.items", found["items"])
    for item in items:
        if item not in rated:
            raise CivicError(f"{where}.items: {item!r} is not a rated item of survey {code!r}")
    demographics = (list(survey.demographics) if found["demographics"] is None
                    else _list_of_strings(f"{where}.demographics", found["demographics"]))
    for column in demographics:
        if column not in survey.demographics:
            raise CivicError(f"{where}.demographics: {column!r} is not a demographic column of survey {code!r}; "
                             f"expected one of {', '.join(survey.demographics) or 'none'}")
    headline = found["headline"] if found["headline"] is not None else (items[0] if items else None)
    if headline is not None and headline not in items:
        raise CivicError(f"{where}.headline: {headline!r} is not one of the pack's items")
    found.update(items=items, demographics=demographics, headline=headline)
    return found


def _verdict(low, high, other_low, other_high, *, same: str = "") -> str:
    if None in (low, high, other_low, other_high):
        return "-"
    if low > other_high:
        return "higher"
    if high < other_low:
        return "lower"
    return same


SHARE, COUNT, PCT, DELTA, TEXT = "share", "int", "pct", "delta", "text"


class _Builder:
    def __init__(self, deployment, config, current, previous):
        self.deployment = deployment
        self.survey = config["survey"]
        self.items = config["items"]
        self.headline = config["headline"]
        self.skip = set(config["skip_values"])
        self.n = config["min_sample"]
        self.current, self.previous = current, previous
        self.city = self._by(None, current)
        self.before = self._by(None, previous) if previous else {}
        self.findings = []

    def _by(self, by, wave) -> dict:
        """(group, item) -> the results row of ``wave``, for the pack's items."""
        found = results(self.deployment, self.survey.code, by=by, wave=wave, items=self.items)
        return {(row["group"], row["item"]): row for row in found["rows"]}

    def share(self, row) -> Share | None:
        return Share(row["acceptable"], row["answered"], self.n) if row else None

    def text(self, item) -> str:
        return self.survey.question(item).text

    def city_section(self) -> Section:
        columns = (Column("item", "item"), Column("answered", "answered", COUNT), Column("satisfied", "satisfied", SHARE),
                   Column("low", "95% low", PCT), Column("high", "95% high", PCT),
                   Column("previous", "previous wave", SHARE), Column("previous_low", "95% low", PCT),
                   Column("previous_high", "95% high", PCT), Column("change", "change", DELTA),
                   Column("against_previous", "against the previous wave", TEXT))
        rows, values, intervals, low_sample, before = [], [], [], [], []
        for item in self.items:
            now, was = self.city.get(("all", item)), self.before.get(("all", item))
            if now is None and was is None:
                continue
            change = now["share"] - was["share"] if now and was else None
            verdict = _verdict(now["low"], now["high"], was["low"], was["high"], same="no clear change") if (
                now and was) else "-"
            rows.append((self.text(item), now["answered"] if now else 0, self.share(now), now and now["low"],
                         now and now["high"], self.share(was), was and was["low"], was and was["high"], change, verdict))
            share = self.share(now)
            values.append(share.value if share else None)
            intervals.append((now["low"], now["high"]) if now and now["low"] is not None else None)
            low_sample.append(share.low_sample if share else False)
            before.append(was["share"] if was else None)
        previous = f" against {self.previous}" if self.previous else " (no previous wave stored)"
        table = Table("items", f"Share satisfied, wave {self.current}{previous}", columns, tuple(rows))
        chart = charts.chart(
            "items", f"Share satisfied by item, wave {self.current}, with 95% intervals",
            charts.interval_bars([r[0][:60] for r in rows], values, intervals, low_sample,
                                 reference=before if self.previous else None,
                                 reference_label=f"wave {self.previous}"),
            table, size=(7.0, 0.8 + 0.28 * max(len(rows), 1)))
        return Section("The city as a whole", intro=SATISFIED.definition, blocks=(chart,),
                       missing=None if rows else f"No answers to the pack's items in wave {self.current}.")

    def group_section(self, by: str, title: str, label) -> Section:
        found = self._by(by, self.current)
        groups = sorted({g for g, _ in found if g not in self.skip and g != "unknown"},
                        key=lambda g: (len(g), g) if g.isdigit() else (99, g))
        columns = (Column("item", "item"), Column("group", title.lower()), Column("answered", "answered", COUNT),
                   Column("satisfied", "satisfied", SHARE), Column("low", "95% low", PCT),
                   Column("high", "95% high", PCT), Column("city", "city", PCT),
                   Column("against_city", "against the city", TEXT))
        rows = []
        for item in self.items:
            city = self.city.get(("all", item))
            for group in groups:
                row = found.get((group, item))
                if row is None:
                    continue
                verdict = _verdict(row["low"], row["high"], city["low"], city["high"]) if city else "-"
                share = self.share(row)
                rows.append((self.text(item), label(group), row["answered"], share, row["low"], row["high"],
                             city and city["share"], verdict))
                if verdict in ("higher", "lower"):
                    self.findings.append((title, label(group), self.text(item), share, row["low"], row["high"],
                                          city["share"], city["low"], city["high"], verdict))
        slug = re.sub(r"[^a-z0-9]+", "_", by.lower()).strip("_")
        table = Table(f"by_{slug}", f"Share satisfied by {title.lower()}, wave {self.current}", columns, tuple(rows))
        headline = [r for r in rows if r[0] == self.text(self.headline)] if self.headline else []
        blocks = (table,)
        if headline:
            city = self.city.get(("all", self.headline))
            chart_table = Table(f"by_{slug}_headline", f"\u201c{self.text(self.headline)}\u201d by {title.lower()}",
                                columns, tuple(headline))
            chart = charts.chart(
                f"by_{slug}", chart_table.title,
                charts.interval_bars([r[1] for r in headline], [r[3].value for r in headline],
                                     [(r[4], r[5]) if r[4] is not None else None for r in headline],
                                     [r[3].low_sample for r in headline], line=city["share"] if city else None,
                                     line_label="city"),
                chart_table, size=(6.5, 0.8 + 0.3 * len(headline)))
            blocks = (chart, table)
        missing = None if rows else f"No {title.lower()} recorded for the responses of wave {self.current}."
        return Section(f"By {title.lower()}", blocks=blocks if rows else (), missing=missing)

    def findings_section(self) -> Section:
        columns = (Column("grouping", "grouping"), Column("group", "group"), Column("item", "item"),
                   Column("satisfied", "satisfied", SHARE), Column("low", "95% low", PCT),
                   Column("high", "95% high", PCT), Column("city", "city", PCT), Column("city_low", "city 95% low", PCT),
                   Column("city_high", "city 95% high", PCT), Column("direction", "more or less satisfied", TEXT))
        rows = tuple(self.findings)
        return Section("Groups that differ from the city as a whole", intro=DIFFERS.definition,
                       blocks=(Table("differences", "Groups whose interval lies outside the city's", columns, rows),),
                       missing=None if rows else f"No group's interval lies outside the city's in wave {self.current}.")

    def sections(self, demographics) -> tuple[Section, ...]:
        city = self.city_section()
        district = self.group_section("district", "Council district", lambda g: f"District {g}")
        others = [self.group_section(column, self.survey.demographics[column], str) for column in demographics]
        return (city, district, *others, self.findings_section())


def resident_document(deployment, *, start: datetime, end: datetime) -> Document:
    config = settings(deployment)
    profile = deployment.profile
    period, label, common = document_frame(deployment, NAME, config, RESIDENT_METRICS, start=start, end=end)
    survey = config["survey"]
    if survey is None:
        what = f"survey {config['instrument']!r}" if config["instrument"] else "survey imported by waves (wave_column)"
        return Document(**common, title=f"Resident survey: {profile.name}, {label}",
                        data={"instrument": None, "period_dates": period.to_dict()},
                        sections=(Section("The city as a whole", missing=f"No survey configured: {profile.name} has no "
                                                                          f"resident {what} ([plugins.{SETTINGS_TABLE}] "
                                                                          "instrument)."),))
    stored = waves(deployment, survey.code)
    current, previous = pick_waves(stored, period.last_day)
    data = {"instrument": survey.code, "instrument_name": survey.name, "wave": current, "previous_wave": previous,
            "waves": dict(sorted(stored.items())), "note": survey.note, "period_dates": period.to_dict()}
    title = f"{survey.name}: {profile.name}, wave {current}" if current else f"{survey.name}: {profile.name}"
    if current is None:
        why = (f"No responses to survey {survey.code!r} are stored" if not stored else
               f"No wave of survey {survey.code!r} is dated on or before {period.last_day} "
               f"(stored: {', '.join(sorted(stored))})")
        return Document(**common, title=title, data=data, sections=(Section("The city as a whole", missing=f"{why}."),))
    builder = _Builder(deployment, config, current, previous)
    sections = builder.sections(config["demographics"])
    if survey.note:
        sections = (Section(sections[0].title, intro=f"{sections[0].intro} {survey.note}", blocks=sections[0].blocks,
                            missing=sections[0].missing), *sections[1:])
    return Document(**common, title=title, data=data, sections=sections)


@hookimpl
def register_report_packs(register):
    register(document_pack(NAME, resident_document, "Resident satisfaction survey: share satisfied per item with its "
                                                    "interval, by district and demographic, groups that differ "
                                                    "from the city, against the previous wave"))
