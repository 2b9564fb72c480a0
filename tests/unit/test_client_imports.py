"""``import drucker.client`` loads what the client needs: no pluggy, PyYAML or cattrs.

Read from the source (:func:`tests.import_graph.loaded_by`): every module-level import that
``import drucker.client`` runs, the ``__init__`` of each package on the way included.
``tests/wire/test_client_imports.py`` checks the same in a fresh interpreter.
"""

from __future__ import annotations

from tests import import_graph

SERVER_SIDE = ("pluggy", "yaml", "cattrs")


def test_the_client_loads_no_server_side_library() -> None:
    loaded = import_graph.loaded_by("drucker.client")
    assert "drucker.client.aio" in loaded or "drucker.client._sync" in loaded
    assert not [name for name in SERVER_SIDE if name in loaded]


def test_the_client_loads_no_server_side_module() -> None:
    loaded = import_graph.loaded_by("drucker.client")
    for module in ("drucker.settings", "drucker.hookspecs", "drucker.runtime", "drucker.server"):
        assert module not in loaded


def test_the_settings_do_load_them() -> None:  # the check can fail
    assert {"yaml", "cattrs"} <= import_graph.loaded_by("drucker.settings")
