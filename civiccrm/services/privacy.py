"""Personal data on request and by retention: redact one person, purge contacts past the retention period.

Only contact data is touched (the customer's name, e-mail, phone and survey addresses); each
case keeps its history and figures, and gets an event saying its contact data was removed,
without the data itself.
"""

from datetime import timedelta

import attrs

from civiccrm.domain.cases import CaseEvent
from civiccrm.errors import CivicError
from civiccrm.store import privacy
from civiccrm.store.repo import event_values, write_transaction
from civiccrm.store.tables import events_table


@attrs.frozen
class Removed:
    customers: int
    cases: tuple[str, ...]
    """Tracking numbers of the cases whose requester's contact data was removed."""


def _remove(deployment, customer_ids: list[int], *, kind: str, actor: str, note: str, connection) -> Removed:
    now = deployment.clock()
    cases = privacy.cases_of(connection=connection, customer_ids=customer_ids)
    privacy.blank_contact_data(connection=connection, customer_ids=customer_ids, at=now)
    if cases:
        event = CaseEvent(kind=kind, at=now, actor=actor, origin="privacy", note=note,
                          changes={"contact_data": ["kept", "removed"]})
        connection.execute(events_table.insert(), [event_values(case.id, event) for case in cases])
    return Removed(customers=len(customer_ids), cases=tuple(case.tracking_number for case in cases))


def redact(deployment, *, email: str | None = None, phone: str | None = None, tracking_number: str | None = None,
           reason: str, actor: str) -> Removed:
    """Remove the contact data of the person with this e-mail, phone or case, on their request."""
    reason = (reason or "").strip()
    if not reason:
        raise CivicError("--reason: say why (e.g. the request's reference); it is kept in the history", field="reason")
    digits = "".join(ch for ch in phone or "" if ch.isascii() and ch.isdigit()) or None
    if phone and (digits is None or len(digits) < 7):
        raise CivicError(f"--phone: {phone!r} has too few digits to be a phone number", field="phone")
    if digits and len(digits) == 11 and digits.startswith("1"):  # +1 (North American country code)
        digits = digits[1:]
    if not (email or digits or tracking_number):
        raise CivicError("redact: give --email, --phone or --case", field="email")
    with write_transaction(deployment.engine) as connection:
        ids = privacy.customers_matching(connection=connection, email=email and email.strip(), phone_digits=digits,
                                         tracking_number=tracking_number and tracking_number.strip())
        if not ids:
            raise CivicError("redact: no unredacted contact matches; nothing was changed")
        removed = _remove(deployment, ids, kind="contact_redacted", actor=actor,
                          note=f"requester's contact data removed on request: {reason}", connection=connection)
        connection.commit()
    return removed


def retention_years(deployment) -> float | None:
    """The profile's retention period (``[privacy] retention_years``), or None when it sets none."""
    return deployment.profile.settings.get("privacy", {}).get("retention_years")


def purge(deployment, *, years: float | None = None, actor: str, dry_run: bool = False, batch: int = 1000) -> Removed:
    """Remove the contact data of everyone whose cases all closed more than ``years`` ago (by default the
    profile's ``[privacy] retention_years``)."""
    if years is None:
        years = retention_years(deployment)
        if years is None:
            raise CivicError(f"--years: not given, and {deployment.profile.path / 'profile.toml'} sets no "
                             "[privacy] retention_years", field="years")
    if not years or years <= 0:
        raise CivicError(f"--years: {years!r}; a retention period is a positive number of years", field="years")
    cutoff = deployment.clock() - timedelta(days=365.25 * years)
    if dry_run:
        with deployment.engine.connect() as connection:
            ids = privacy.customers_past_retention(connection=connection, closed_before=cutoff)
            found = privacy.cases_of(connection=connection, customer_ids=ids) if ids else []
        return Removed(customers=len(ids), cases=tuple(c.tracking_number for c in found))
    customers, cases = 0, []
    while True:
        with write_transaction(deployment.engine) as connection:
            ids = privacy.customers_past_retention(connection=connection, closed_before=cutoff, limit=batch)
            if not ids:
                break
            removed = _remove(deployment, ids, kind="contact_purged", actor=actor, connection=connection,
                              note=f"requester's contact data removed: retention of {years:g} years passed")
            connection.commit()
        customers += removed.customers
        cases.extend(removed.cases)
    return Removed(customers=customers, cases=tuple(cases))
