"""Credentials of a DICOMweb service: from the environment or a netrc file, never from the URL.

In this order: :data:`TOKEN_ENV` (a bearer token), :data:`BASIC_ENV` (``user:password``), then
the netrc file (``$NETRC``, else ``~/.netrc``) entry of the service's host (basic). A URL with a
user name or password in it is refused, so that credentials never appear on a command line, in
a shell history or in a log; nothing here logs a credential.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from spondy_annotate.errors import DicomWebError

if TYPE_CHECKING:
    import requests

#: Environment variable holding a bearer token.
TOKEN_ENV = "SPONDY_DICOMWEB_TOKEN"
#: Environment variable holding ``user:password`` for basic authentication.
BASIC_ENV = "SPONDY_DICOMWEB_BASIC"


def is_url(source: object) -> bool:
    """Whether ``source`` (a folder or a URL as given) is an ``http://`` or ``https://`` URL."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def check_url(url: str) -> str:
    """``url`` without a trailing slash; raise :class:`DicomWebError` if it holds credentials."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme.lower() not in ("http", "https"):
        raise DicomWebError(f"{url}: not an http(s) DICOMweb URL")
    if parts.username is not None or parts.password is not None:
        host = parts.hostname
        raise DicomWebError(
            f"a DICOMweb URL for {host} holds credentials: put them in ~/.netrc or "
            f"${BASIC_ENV} / ${TOKEN_ENV} instead"
        )
    return url.rstrip("/")


def _netrc_login(host: str) -> tuple[str, str] | None:
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(os.fspath(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:  # the message quotes no password
        raise DicomWebError(f"{path}: unreadable netrc file ({type(exc).__name__})") from None
    if entry is None:
        return None
    login, _, password = entry
    return login, password or ""


def authenticated_session(url: str) -> requests.Session:
    """A requests session carrying the credentials for ``url`` (none if none are configured)."""
    import requests

    session = requests.Session()
    session.trust_env = False  # no silent netrc/proxy lookups: the credentials are chosen here
    token = os.environ.get(TOKEN_ENV)
    basic = os.environ.get(BASIC_ENV)
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    elif basic:
        user, sep, password = basic.partition(":")
        if not sep:
            raise DicomWebError(f"${BASIC_ENV} must be user:password")
        session.auth = (user, password)
    else:
        login = _netrc_login(urlsplit(url).hostname or "")
        if login is not None:
            session.auth = login
    return session
