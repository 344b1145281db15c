"""Invite the requester of a closed case to the post-case survey (see civiccrm.services.surveys).

The invitation is a notification: it is written to the delivery outbox and sent by ``civiccrm deliver``."""

import logging

from civiccrm import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def case_closed(deployment, case, event):
    """Live closes only: imported history (``event.origin`` import:...) is never surveyed."""
    if case.is_import or event.origin != "intake":
        return
    from civiccrm.services.surveys import invitations as survey_invitations

    outcome = survey_invitations.dispatch_on_close(deployment, case)
    log.info("survey invitation for case %s: %s", case.tracking_number, outcome)
