"""Where sign-in may send the browser: only paths on the dashboard's own site (issue 26.5)."""

from __future__ import annotations

import pytest

pytest.importorskip("argon2")

from drucker.dashboard.security import same_site_path

ELSEWHERE = [
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252F%25252F%25252Fevil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "",
]
HERE = ["/", "/services/3", "/evaluations/compare?a=1&b=2", "/audit?application=my%20app"]


@pytest.mark.parametrize("target", ELSEWHERE)
def test_another_site_or_a_trick_goes_to_the_overview(target: str) -> None:
    assert same_site_path(target) == "/"


@pytest.mark.parametrize("target", HERE)
def test_a_path_of_this_site_is_kept(target: str) -> None:
    assert same_site_path(target) == target
