"""The knowledge base (/admin/kb): articles per service type and general FAQ, searchable; every edit a
new version with who and when; editors of a department change that department's articles."""

from flask import flash, redirect, render_template, request, url_for

from civiccrm.domain.knowledge import ArticleScope
from civiccrm.domain.users import Permission
from civiccrm.errors import CivicError
from civiccrm.web import get_deployment
from civiccrm.web.admin import bp
from civiccrm.web.admin.auth import allowed, current_actor, permission, require
from civiccrm.web.i18n import gettext as _

FIELDS = ("title", "answer", "questions", "timeframe")


def _fields(form) -> dict:
    return {**{name: form.get(name, "") for name in FIELDS}, "public": bool(form.get("public"))}


def _based_on(form) -> int | None:
    text = (form.get("based_on") or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise CivicError(f"based_on: {text[:20]!r} is not a version number", field="based_on")
    return int(text)


@bp.get("/kb")
@permission(Permission.CASE_VIEW)
def knowledge_base():
    from civiccrm.services import knowledge

    deployment = get_deployment()
    query = (request.args.get("q") or "").strip()
    error, articles = None, []
    try:
        articles = knowledge.search(deployment, query)
    except CivicError as exc:
        error = str(exc)
    return render_template("admin/kb_list.html", articles=articles, q=query, error=error,
                           taxonomy=deployment.profile.taxonomy,
                           can_edit=allowed(Permission.KNOWLEDGE_EDIT)), 400 if error else 200


@bp.route("/kb/new", methods=["GET", "POST"])
@permission(Permission.KNOWLEDGE_EDIT)
def new_article():
    """A new article: for the service type ``type`` (its department's editors) or general (``department``,
    or none: supervisors and administrators only)."""
    from civiccrm.services import knowledge

    deployment = get_deployment()
    source = request.form if request.method == "POST" else request.args
    service_code = (source.get("type") or "").strip() or None
    department = (source.get("department") or "").strip() or None
    service_type = deployment.profile.service_type(service_code) if service_code else None
    if service_type is not None:
        department = service_type.department
    require(Permission.KNOWLEDGE_EDIT, ArticleScope(department))
    error = None
    if request.method == "POST":
        try:
            article = knowledge.save(deployment, author=current_actor().name, department=department,
                                     service_code=service_type.code if service_type else None,
                                     **_fields(request.form))
        except CivicError as exc:
            error = str(exc)
        else:
            flash(_("Article saved (version %(number)s).", number=article.current.number), "info")
            return redirect(url_for("admin.article", article_id=article.id))
    return render_template("admin/kb_edit.html", article=None, values=request.form, service_type=service_type,
                           department=department, error=error, taxonomy=deployment.profile.taxonomy), \
        400 if error else 200


@bp.get("/kb/<int:article_id>")
@permission(Permission.CASE_VIEW)
def article(article_id):
    from civiccrm.services import knowledge

    deployment = get_deployment()
    found = knowledge.get(deployment, article_id)
    return render_template("admin/kb_article.html", article=found, versions=knowledge.history(deployment, article_id),
                           can_edit=allowed(Permission.KNOWLEDGE_EDIT, found), taxonomy=deployment.profile.taxonomy)


@bp.route("/kb/<int:article_id>/edit", methods=["GET", "POST"])
@permission(Permission.KNOWLEDGE_EDIT)
def edit_article(article_id):
    """Save a new version (an editor of another department's article is refused with 403)."""
    from civiccrm.services import knowledge

    deployment = get_deployment()
    found = knowledge.get(deployment, article_id)
    require(Permission.KNOWLEDGE_EDIT, found)
    error, status = None, 200
    if request.method == "POST":
        try:
            saved = knowledge.save(deployment, author=current_actor().name, article_id=article_id,
                                   based_on=_based_on(request.form), **_fields(request.form))
        except CivicError as exc:
            error, status = str(exc), exc.http_status
        else:
            flash(_("Article saved (version %(number)s).", number=saved.current.number), "info")
            return redirect(url_for("admin.article", article_id=article_id))
    values = request.form if request.method == "POST" else {
        **{name: getattr(found.current, name) for name in FIELDS}, "public": found.current.public}
    return render_template("admin/kb_edit.html", article=found, values=values, department=found.department,
                           service_type=deployment.profile.taxonomy.service_types.get(found.service_code or ""),
                           error=error, taxonomy=deployment.profile.taxonomy), status
