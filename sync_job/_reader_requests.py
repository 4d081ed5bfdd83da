"""``TokenAuth``: a requests auth class backed by a :class:`~sync_job.reader.TokenReader`.

Import it as ``from sync_job.reader import TokenAuth``; this module (and requests with it) is only
loaded then, so ``import sync_job.reader`` alone works where only boto3 is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import Any, Protocol

from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar
from requests.models import PreparedRequest, Response

__all__ = ["TokenAuth"]


class _Reader(Protocol):
    def token(self) -> str: ...

    def refresh(self) -> str: ...


class TokenAuth(AuthBase):
    """Sends ``Authorization: Bearer <token>`` from ``reader``.

    On a 401 answer to a request that carried the reader's token, the secret is re-read once
    (``reader.refresh()``); if that yields a different token the request is sent again, once, with
    it, and the 401 is kept in ``response.history``. If the re-read yields the same token, or the
    request body cannot be sent again (a generator, a file that cannot seek), the 401 is returned
    as it is. Errors of the re-read (``TokenExpiredError``, ``TokenUnavailableError``) propagate.
    Thread-safe: it keeps no state between requests beyond the reader.
    """

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reader!r})"

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        sent = self.reader.token()
        r.headers["Authorization"] = _bearer(sent)
        replayable, position = _body_position(r.body)

        def retry_on_401(response: Response, **kwargs: Any) -> Response:
            return self._handle_401(response, sent, replayable, position, **kwargs)

        register: Callable[[str, Callable[..., Response]], None] = r.register_hook  # untyped in the stubs
        register("response", retry_on_401)
        return r

    def _handle_401(
        self, r: Response, sent: str, replayable: bool, position: int | None, **kwargs: Any
    ) -> Response:
        if r.status_code != 401 or not replayable:
            return r
        # Only a request that carried our token is retried: requests drops the header on a
        # redirect to another host, and the token must not be sent there.
        if r.request.headers.get("Authorization") != _bearer(sent):
            return r
        fresh = self.reader.refresh()
        if fresh == sent:
            return r  # the store still holds the refused token: sending it again cannot help
        body: Any = r.request.body
        if position is not None:
            body.seek(position)
        # Read and release the 401 so the retry can reuse its connection (as HTTPDigestAuth does).
        _ = r.content
        r.close()
        prep = r.request.copy()
        jar = getattr(prep, "_cookies", None)
        if isinstance(jar, CookieJar):
            extract: Callable[[CookieJar, PreparedRequest, Any], None] = extract_cookies_to_jar
            extract(jar, r.request, r.raw)
            prep.prepare_cookies(jar)
        prep.headers["Authorization"] = _bearer(fresh)
        # The adapter sends without running hooks, so this is the only retry.
        retried = r.connection.send(prep, **kwargs)
        retried.history.append(r)
        retried.request = prep
        return retried


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _body_position(body: object) -> tuple[bool, int | None]:
    """Whether the body can be sent again, and the position to rewind a file body to."""
    if body is None or isinstance(body, bytes | bytearray | str):
        return True, None
    tell = getattr(body, "tell", None)
    if callable(tell) and callable(getattr(body, "seek", None)):
        try:
            return True, int(tell())
        except (OSError, ValueError):
            return False, None
    return False, None
