"""English and Spanish for the web pages: gettext catalogs (Babel .po files) chosen per request."""

import functools
from importlib.resources import files
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import g, has_request_context, request, session
from markupsafe import Markup

LANGUAGES = ("en", "es")
"""English is the language of the source strings; every other one has a catalog."""
TRANSLATIONS = files("civiccrm") / "web" / "translations"


@functools.cache
def catalog(language: str) -> NullTranslations:
    """The compiled catalog of ``language``, built from its .po file once per process (no .mo in the repo)."""
    if language == "en":
        return NullTranslations()
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        messages = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return Translations(compiled)


def choose_language(preferred: str | None = None) -> str:
    """The language chosen for the session (a staff user's, or one picked on a page), else the
    browser's best match, else English."""
    if preferred in LANGUAGES:
        return preferred
    return request.accept_languages.best_match(LANGUAGES) or "en"


def current_language() -> str:
    """The request's language: chosen before the request for pages, on first use for a stateless API
    (``civiccrm.web.security.stateless``: most of its answers carry no text to translate)."""
    language = g.get("language")
    if language is None:
        if not has_request_context():
            return "en"
        language = g.language = choose_language(session.get("language"))
    return language


def gettext(message: str, **variables) -> str:
    """``message`` in the request's language, with ``%(name)s`` variables filled in."""
    text = catalog(current_language()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables) -> str:
    text = catalog(current_language()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def _template_gettext(message, **variables):
    """Jinja's ``_()``: escapes the variables, not the translated text (as newstyle gettext does)."""
    text = catalog(current_language()).gettext(message)
    return Markup(text) % variables if variables else Markup(text)


def _template_ngettext(singular, plural, n, **variables):
    text = catalog(current_language()).ngettext(singular, plural, n)
    return Markup(text) % {"num": n, **variables}


def init_app(app) -> None:
    """Give templates ``_()``/``gettext()``/``ngettext()`` and ``lang``; choose the language per request."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(_template_gettext, _template_ngettext, newstyle=True)

    from civiccrm.web.security import is_stateless

    @app.before_request
    def _language():
        if not is_stateless():
            g.language = choose_language(session.get("language"))

    @app.context_processor
    def _lang():
        return {"lang": current_language()}
