"""The taxonomy's long <option> lists (hundreds of service types), rendered once per profile rather than
sorted and looped over in every page; ``options(kind, selected)`` marks the chosen one."""

from markupsafe import Markup, escape

from civiccrm.web import get_deployment

KINDS = ("service_types", "departments", "work_groups")
_rendered: dict[int, tuple[object, dict[str, str]]] = {}
"""id(taxonomy) -> (the taxonomy, kept alive so the id stays its own; kind -> HTML)."""


def _render(taxonomy) -> dict[str, str]:
    found = {}
    for kind in KINDS:
        items = sorted(getattr(taxonomy, kind).values(), key=lambda item: (item.name, item.code))
        found[kind] = "".join(f'<option value="{escape(item.code)}">{escape(item.name)}</option>' for item in items)
    return found


def options(kind: str, selected: str | None = None) -> Markup:
    """Every ``kind`` (service_types, departments or work_groups) of the city as <option>s, by name."""
    taxonomy = get_deployment().profile.taxonomy
    cached = _rendered.get(id(taxonomy))
    if cached is None or cached[0] is not taxonomy:
        cached = _rendered[id(taxonomy)] = (taxonomy, _render(taxonomy))
    html = cached[1][kind]
    if selected:
        needle = f'<option value="{escape(selected)}">'
        html = html.replace(needle, f'<option value="{escape(selected)}" selected>', 1)
    return Markup(html)
