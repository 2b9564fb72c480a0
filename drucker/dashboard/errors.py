"""The one error type of the dashboard's refusals, for pages, API and operations alike."""

from __future__ import annotations


class Refused(Exception):
    """The dashboard refuses a request or a change failed.

    ``status`` is the HTTP status to answer with: 400 bad input, 401 not signed in, 403 not
    allowed, 404 unknown, 409 conflict, 422 invalid input, 502 a service failed.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
