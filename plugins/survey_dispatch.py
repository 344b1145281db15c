"""Invite the requester of a closed case to the post-case survey (see civiccrm.services.surveys)."""

import logging

from civiccrm import hookimpl
from civiccrm.errors import CivicError

log = logging.getLogger(__name__)


@hookimpl
def case_closed(deployment, case, event):
    """Live closes only: imported history (``event.origin`` import:...) is never surveyed."""
    if case.is_import or event.origin != "intake":
        return
    from civiccrm.services.surveys import invitations as survey_invitations
    from civiccrm.store.surveys import last_invitation_error

    outcome = survey_invitations.dispatch_on_close(deployment, case)
    log.info("survey invitation for case %s: %s", case.tracking_number, outcome)
    if outcome == "failed":  # the dispatcher records it as a failed hook; `civiccrm hooks retry` sends again
        with deployment.session() as s:
            error = last_invitation_error(session=s, case_id=case.id)
        raise CivicError(f"survey invitation for case {case.tracking_number} not sent: {error}")
