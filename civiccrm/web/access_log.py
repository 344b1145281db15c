"""gunicorn's access log without secrets: no query strings, no referrers, token-like path segments masked."""

import re

from gunicorn.glogging import Logger

#: A path segment that looks like a secret (a survey or unsubscribe token, a key): long and URL-safe.
_TOKEN = re.compile(r"(?<=/)[A-Za-z0-9_\-]{20,}(?=/|$)")



def redact_path(path: str) -> str:
    return _TOKEN.sub("[token]", path or "")


class RedactingLogger(Logger):
    """The access log line of each request with the path's tokens masked; the query string is
    never written (``api_key`` there is refused anyway) and neither is the Referer."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact_path(atoms.get("U"))
        atoms["r"] = f"{atoms.get('m')} {atoms['U']} {atoms.get('H')}"
        atoms["q"] = "-"
        atoms["f"] = "-"
        for name in [k for k in atoms if k.startswith("{")]:
            if name.endswith("}i"):
                del atoms[name]
        return atoms
