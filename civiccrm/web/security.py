"""Web security shared by every page: the secret key, session cookies, CSRF and response headers."""

import os
import secrets
import time
from pathlib import Path

from flask import request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
"""Every POST, PUT, PATCH and DELETE must carry the form's ``csrf_token`` (or ``X-CSRFToken``);
a blueprint for machines (the Open311 API) is exempted with ``csrf.exempt(blueprint)``."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=31536000; includeSubDomains"
_HEADERS_BY_LOWER = [(name.lower(), name, value) for name, value in HEADERS.items()]


def instance_secret_key(instance_path: str) -> str:
    """The secret key kept in the instance folder, created (mode 0600) on first use.

    Created with O_EXCL, so worker processes starting together agree on one key."""
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.01)  # another worker is writing it
        raise RuntimeError(f"{path} is empty: delete it and restart") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key)
    return key


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS (or the config says so).

    Requests under a stateless prefix (``stateless``) get Flask's null session: no cookie is read, signed or
    written for them."""

    stateless_prefixes: tuple[str, ...] = ()

    def open_session(self, app, request):
        if self.stateless_prefixes and request.path.startswith(self.stateless_prefixes):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def get_signing_serializer(self, app):
        """Flask's serializer, built once per secret key (and fallbacks) rather than on every request."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = getattr(self, "_serializer", None)
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]


def stateless(app, blueprint) -> None:
    """Serve ``blueprint`` (mounted under its ``url_prefix``) without a session: a machine API whose clients
    prove themselves with a key, never a cookie. Its requests skip the cookie's read and signature, the
    session's save and the per-request language choice (``civiccrm.web.i18n``)."""
    interface = app.session_interface
    prefix = blueprint.url_prefix.rstrip("/") + "/"
    if prefix not in interface.stateless_prefixes:
        interface.stateless_prefixes = (*interface.stateless_prefixes, prefix)


def is_stateless() -> bool:
    """True when the current request is under a ``stateless`` prefix."""
    from flask import current_app

    prefixes = getattr(current_app.session_interface, "stateless_prefixes", ())
    return bool(prefixes) and request.path.startswith(prefixes)


def add_headers(response):
    """CSP and the usual protective headers on every response (a view may set its own first)."""
    headers = response.headers
    present = {name.lower() for name in headers.keys()}
    headers.extend([(name, value) for lower, name, value in _HEADERS_BY_LOWER if lower not in present])
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app) -> None:
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app.config.get("INSTANCE_PATH") or app.instance_path)
    app.session_interface = SessionInterface()
    csrf.init_app(app)
    app.after_request(add_headers)
    proxies = int(app.config.get("PROXIES") or 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
