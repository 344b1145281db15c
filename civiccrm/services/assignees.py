"""Giving an open case to one staff user of its work group ("assign to me"), recorded in its history."""

from civiccrm.domain.cases import CaseEvent, Status
from civiccrm.errors import CivicError
from civiccrm.services.events import fire
from civiccrm.store import repo
from civiccrm.store import users as user_store
from civiccrm.store.assignees import assignee_of, set_assignee


def assign_user(deployment, tracking_number: str, username: str | None, *, actor: str):
    """Make ``username`` (None: nobody) the case's assignee; an ``assigned`` event records the change."""
    with deployment.session() as s:
        row = repo.get_case_row(session=s, tracking_number=tracking_number, for_update=True)
        if row.status == Status.CLOSED.value:
            raise CivicError(f"case {row.tracking_number}: cannot assign it: it is closed; reopen it first")
        user = None
        if username is not None:
            user = user_store.get_user_row(session=s, username=username)
            if user.disabled_at is not None:
                raise CivicError(f"assignee: user {user.username!r} is disabled", field="assignee")
        connection = s.connection()
        before = assignee_of(connection=connection, case_id=row.id)
        after = user.username if user else None
        if before == after:
            raise CivicError(f"case {row.tracking_number}: already assigned to {after or 'nobody'}")
        now = deployment.clock()
        set_assignee(connection=connection, case_id=row.id, user_id=user.id if user else None, now=now)
        row.updated_at = now
        event = CaseEvent(kind="assigned", at=now, actor=actor, changes={"assignee": [before, after]}, origin="intake")
        repo.add_event(session=s, case_id=row.id, event=event)
        s.commit()
        case = repo.case_from_row(row)
    fire(deployment, "case_updated", case=case, event=event)
    return case
