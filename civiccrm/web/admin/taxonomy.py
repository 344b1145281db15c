"""Taxonomy editing (/admin/taxonomy): departments, work groups and service types, added and changed by
those allowed to edit the configuration, every change recorded with who and when."""

from flask import flash, redirect, render_template, request, url_for

from civiccrm.domain.taxonomy import SlaBasis
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError, NotFound
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import allowed, current_actor, permission
from civiccrm.web.i18n import gettext as _

TAXONOMY_KINDS = ("department", "work_group", "service_type")


@bp.get("/taxonomy")
@permission(Permission.CASE_VIEW)
def taxonomy():
    from civiccrm.services import config_changes

    deployment = get_deployment()
    changes = [c for c in config_changes.recent(deployment, limit=200) if c.kind in TAXONOMY_KINDS][:50]
    return render_template("admin/taxonomy.html", taxonomy=deployment.profile.taxonomy, changes=changes,
                           can_edit=allowed(Permission.CONFIG_EDIT))


def _units():
    from civiccrm.services import config_changes

    return {"departments": (config_changes.save_department, ("name",), lambda name: _("Department %(name)s saved.",
                                                                                       name=name)),
            "work-groups": (config_changes.save_work_group, ("name", "department"),
                            lambda name: _("Work group %(name)s saved.", name=name))}


@bp.post("/taxonomy/<any(departments, 'work-groups'):kind>", defaults={"code": None})
@bp.post("/taxonomy/<any(departments, 'work-groups'):kind>/<code>")
@permission(Permission.CONFIG_EDIT)
def save_unit(kind, code):
    """Add a department (form fields ``code``, ``name``) or a work group (``code``, ``name``, ``department``),
    or change one (its code in the path)."""
    save, fields, saved_message = _units()[kind]
    form = request.form
    saved = save(get_deployment(), code or form.get("code", ""), actor=current_actor().name, new=code is None,
                 **{name: form.get(name) for name in fields})
    flash(saved_message(saved.name), "info")
    return redirect(url_for("admin.taxonomy"))


@bp.route("/taxonomy/types/new", methods=["GET", "POST"], defaults={"code": None})
@bp.route("/taxonomy/types/<code>", methods=["GET", "POST"])
@permission(Permission.CONFIG_EDIT)
def service_type_form(code):
    """A service type's name, category, department, work group, keywords and whether it is taken; a new
    one also gets its code and time-frame."""
    from civiccrm.services import config_changes

    deployment = get_deployment()
    taxonomy = deployment.profile.taxonomy
    current = taxonomy.service_types.get(code) if code else None
    if code and current is None:
        raise NotFound(f"code: no service type {code[:40]!r}", field="code")
    error = None
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        form = request.form
        try:
            saved = config_changes.save_service_type(
                deployment, code or form.get("code", ""), name=form.get("name"), category=form.get("category"),
                department=form.get("department"), work_group=form.get("work_group"),
                keywords=form.get("keywords", ""), active=form.get("active") == "on",
                sla_target=form.get("sla_target"), sla_basis=form.get("sla_basis"),
                actor=current_actor().name, new=code is None)
        except CivicError as exc:
            error = str(exc)
        else:
            flash(_("Service type %(name)s saved.", name=saved.name), "info")
            return redirect(url_for("admin.service_type_form", code=saved.code))
    changes = config_changes.recent(deployment, subject=code, kind="service_type") if code else []
    return render_template("admin/service_type.html", current=current, taxonomy=taxonomy, values=values,
                           error=error, bases=SlaBasis.ALL, changes=changes), 400 if error else 200
