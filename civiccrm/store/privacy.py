"""SQL of personal-data requests: find a person's contact rows, blank them, list what retention purges."""

from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select, update

from civiccrm.store.tables import SurveyInvitationRow, cases_table, customers_table

invitations = SurveyInvitationRow.__table__
_c, _k = customers_table, cases_table


def customers_matching(*, connection, email: str | None = None, phone_digits: str | None = None,
                       tracking_number: str | None = None) -> list[int]:
    """Ids of the unredacted customers with this e-mail (any case), phone (digits) or case."""
    conditions = []
    if email:
        conditions.append(func.lower(_c.c.email) == email.lower())
    if phone_digits:
        digits = _c.c.phone
        for mark in ("-", " ", "(", ")", ".", "+"):
            digits = func.replace(digits, mark, "")
        conditions.append(or_(digits == phone_digits, digits == "1" + phone_digits))
    if tracking_number:
        conditions.append(_c.c.id.in_(select(_k.c.customer_id).where(_k.c.tracking_number == tracking_number)))
    query = select(_c.c.id).where(_c.c.redacted_at.is_(None), or_(*conditions)).order_by(_c.c.id)
    return list(connection.execute(query).scalars())


def customers_past_retention(*, connection, closed_before: datetime, limit: int | None = None) -> list[int]:
    """Unredacted customers all of whose cases closed before ``closed_before`` (none still open)."""
    still_needed = exists().where(_k.c.customer_id == _c.c.id,
                                  or_(_k.c.closed_at.is_(None), _k.c.closed_at >= closed_before))
    query = (select(_c.c.id).where(_c.c.redacted_at.is_(None), _c.c.created_at < closed_before, ~still_needed)
             .order_by(_c.c.id).limit(limit))
    return list(connection.execute(query).scalars())


def cases_of(*, connection, customer_ids: list[int]) -> list:
    return connection.execute(select(_k.c.id, _k.c.tracking_number, _k.c.customer_id)
                              .where(_k.c.customer_id.in_(customer_ids)).order_by(_k.c.id)).all()


def blank_contact_data(*, connection, customer_ids: list[int], at: datetime) -> None:
    """Remove name, e-mail, phone and survey addresses; the customer row stays for the cases' sake."""
    connection.execute(update(_c).where(_c.c.id.in_(customer_ids))
                       .values(name=None, email=None, phone=None, contact_by=None, redacted_at=at))
    connection.execute(update(invitations).where(and_(invitations.c.customer_id.in_(customer_ids),
                                                      invitations.c.address.is_not(None)))
                       .values(address=None))
