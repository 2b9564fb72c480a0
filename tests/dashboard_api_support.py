"""The dashboard's JSON API as its users call it: an API token per role, signed in through the
pages as a person would, and one call helper."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.dashboard_support import TOKEN, DashboardProcess


def sign_in(
    browser: httpx.Client, role: str, login_page: str = "", **fields: str
) -> httpx.Response:
    """Post the sign-in form (of ``login_page``, else a fresh one) as the user named ``role``."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page or browser.get("/login").text)
    assert csrf is not None
    form = {"name": role, "password": f"{role}-password", "csrf_token": csrf[1], **fields}
    return browser.post("/login", data=form)


def signed_in(browser: httpx.Client, role: str) -> str:
    """Sign ``browser`` in as the user named after ``role``; returns the session's CSRF token."""
    assert sign_in(browser, role).status_code == 303
    csrf = re.search(r'data-csrf="([^"]+)"', browser.get("/").text)
    assert csrf is not None
    return csrf[1]


def api_token(url: str, name: str, password: str) -> str:
    """Sign in through the pages and make an API token on the account page."""
    with httpx.Client(base_url=url, follow_redirects=True) as browser:
        page = browser.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        signed = browser.post(
            "/login", data={"name": name, "password": password, "csrf_token": csrf[1]}
        )
        assert signed.status_code == 200, signed.text
        csrf = re.search(r'data-csrf="([^"]+)"', signed.text)
        assert csrf is not None
        account = browser.post("/account/tokens", data={"name": "tests", "csrf_token": csrf[1]})
        token = re.search(r'id="new-token">([^<]+)<', account.text)
        assert token is not None
        return token[1]


class DashboardApi:
    """An admin (made on the command line) and one user per role, each with an API token.

    A user ``ROLE`` has the password ``ROLE-password``.
    """

    def __init__(
        self,
        dashboard: DashboardProcess,
        roles: tuple[str, ...] = ("editor", "viewer"),
        timeout: float = 60,
    ) -> None:
        self.url = dashboard.url
        self.timeout = timeout
        dashboard.create_user("admin", "admin", "admin-password")
        self.tokens = {"admin": api_token(self.url, "admin", "admin-password")}
        for role in roles:
            user = {"name": role, "role": role, "password": f"{role}-password"}
            assert self.call("admin", "POST", "/users", json=user).status_code == 201
            self.tokens[role] = api_token(self.url, role, f"{role}-password")

    def call(self, role: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``METHOD /api/PATH`` as ``role`` (``None``: unsigned; ``"wrong"``: a bad token)."""
        headers = dict(kwargs.pop("headers", {}))
        if role == "wrong":
            headers["Authorization"] = "Bearer drk_not-a-token"
        elif role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return httpx.request(
            method, self.url + "/api" + path, headers=headers, timeout=self.timeout, **kwargs
        )

    def register(self, address: str, token: str = TOKEN) -> int:
        """Register the service at ``address`` as the admin; returns its id."""
        reply = self.call("admin", "POST", "/services", json={"address": address, "token": token})
        assert reply.status_code == 201, reply.text
        return int(reply.json()["id"])
