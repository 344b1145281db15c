"""Invite the requester of a closed case to the post-case survey (see civiccrm.services.surveys)."""

import logging

from civiccrm import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def case_closed(case, event):
    """Live closes only: imported history (``event.origin`` import:...) is never surveyed."""
    if case.is_import or event.origin != "intake":
        return
    from civiccrm.services import surveys
    from civiccrm.services.events import current_deployment

    outcome = surveys.dispatch_on_close(current_deployment(), case)
    log.info("survey invitation for case %s: %s", case.tracking_number, outcome)
