"""The one exception type for mistakes a user, a file or a plugin can cause."""


class CivicError(Exception):
    """A problem the person at the keyboard can fix; the message says what and where.

    The CLI prints it on one line without a traceback and exits non-zero; the web
    answers ``http_status`` with the same message.
    """

    http_status = 400
    """The status a web face answers with; a subclass says its own (404, 409, ...)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(CivicError):
    """A case, service type, city or other named thing does not exist."""

    http_status = 404
