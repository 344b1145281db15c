"""The work queue's table rows as HTML, built in Python: the page's 50 rows through Jinja were half of its time.

Each row asked Jinja for a dozen attribute lookups, a translated label, a URL, a status word and a local time;
here the words are translated once per page and each row is one string format with every value escaped."""

from markupsafe import Markup, escape

from civiccrm.web.i18n import gettext as _
from civiccrm.web.labels import local_time, status_label


def queue_rows(rows, *, now, can_work: bool, taxonomy, tz, case_url) -> Markup:
    """The ``<tr>`` of each queue row (``store.queue.page``'s), or one row saying none match.

    ``case_url(tracking_number)`` is the case page's URL; ``tz`` the city's timezone for the due time."""
    if not rows:
        return Markup('<tr><td colspan="8">%s</td></tr>\n') % _("No open cases match.")
    untyped = Markup('<span class="badge">%s</span>') % _("No type yet")
    paused = Markup(' <span class="badge">%s</span>') % _("clock paused")
    overdue_badge = Markup(' <span class="badge badge-bad">%s</span>') % _("overdue")
    select = _("Select %(number)s")
    late_tr = '<tr class="overdue">\n'
    statuses: dict = {}
    groups = taxonomy.work_groups
    out = []
    for row in rows:
        number = escape(row.tracking_number)
        late = row.due_at is not None and row.due_at < now
        status = statuses.get(row.status)
        if status is None:
            status = statuses[row.status] = escape(status_label(row.status))
        if row.due_at is not None:
            due = (f'<time datetime="{row.due_at.isoformat()}">{local_time(row.due_at, tz=tz)}</time>'
                   f'{overdue_badge if late else ""}')
        else:
            due = "—"
        group = groups[row.work_group].name if row.work_group in groups else (row.work_group or "—")
        out.append(
            (late_tr if late else "<tr>\n")
            + (f'<td><input type="checkbox" name="case" value="{number}" id="c-{int(row.id)}" '
               f'aria-label="{escape(select % {"number": row.tracking_number})}"></td>\n' if can_work else "")
            + f'<td><a href="{escape(case_url(row.tracking_number))}">{number}</a></td>\n'
            f'<td>{escape(row.request_type) if row.service_code else untyped}</td>\n'
            f'<td>{status}{paused if row.sla_paused_at else ""}</td>\n'
            f'<td>{due}</td>\n'
            f'<td>{escape(group)}</td>\n'
            f'<td>{escape(row.council_district or "—")}</td>\n'
            f'<td>{escape(row.assignee or "—")}</td>\n'
            '</tr>\n')
    return Markup("".join(out))
