"""The one exception type for mistakes a user, a file or a plugin can cause."""


class CivicError(Exception):
    """A problem the person at the keyboard can fix; the message says what and where.

    The CLI prints it on one line without a traceback and exits non-zero; the web
    answers 4xx with the same message.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(CivicError):
    """A case, service type, city or other named thing does not exist."""
