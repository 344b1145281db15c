"""The intake's caller lookup: customers by e-mail or phone and their cases, newest first."""

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from civiccrm.store.tables import cases_table, customers_table

c = cases_table.c
k = customers_table.c


def find_callers(*, connection: Connection, email: str | None, phone: str | None, limit: int = 5) -> list:
    """Customers (not redacted) with this e-mail (any case) or this phone number, as typed."""
    terms = []
    if email:
        terms.append(k.email.in_({email.strip(), email.strip().lower()}))
    if phone:
        terms.append(k.phone == phone.strip())
    if not terms:
        return []
    return list(connection.execute(select(k.id, k.name, k.email, k.phone).where(or_(*terms), k.redacted_at.is_(None))
                                   .order_by(k.id.desc()).limit(limit)))


def caller_cases(*, connection: Connection, customer_ids: list[int], limit: int = 10) -> list:
    """The callers' cases, open ones first, then newest first."""
    if not customer_ids:
        return []
    return list(connection.execute(
        select(c.tracking_number, c.request_type, c.status, c.opened_at, c.address, c.department)
        .where(c.customer_id.in_(customer_ids))
        .order_by((c.status == "closed").asc(), c.opened_at.desc()).limit(limit)))
