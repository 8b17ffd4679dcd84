"""API keys in the dashboard: checked with X (the emulator) before they are kept, shown
by fingerprint only, never sent back to a page; deletion."""

from __future__ import annotations

import json
import stat

import pytest

from dashboard_client import login
from dwt.generate import generate_community
from dwt.xapi.client import key_fingerprint
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher

GOOD, BAD = "good-bearer-token-123", "typo-bearer-token-456"


@pytest.fixture(scope="module")
def x_api():
    dataset = generate_community(members=12, communities=2, days=1, seed=2)
    with EmulatorServer(dataset, EmulatorConfig(tokens=[GOOD])) as server:
        yield server.base_url


def test_keys_are_checked_kept_masked_and_deleted(x_api, store, tmp_path):
    path = tmp_path / "keys"
    keys = FileKeyStore(path, x_api)
    users = UserDirectory.parse(user_line("ada", "pw", ["sample"]))
    app = create_app(store, LocalLauncher(store), users, keys=keys)
    handlers = app.handlers
    assert handlers.add_key("ada", BAD).startswith("Not added: X refused this key")
    assert handlers.add_key("ada", "two words").startswith("Not added: a bearer token is one")
    message = handlers.add_key("ada", GOOD)
    assert message.startswith(f"Added {key_fingerprint(GOOD)}") and GOOD not in message
    assert path.read_text() == f"{GOOD}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = str(handlers.page("ada", "/keys", "sample"))
    assert key_fingerprint(GOOD) in listed and GOOD not in listed

    client = app.server.test_client()
    login(client, "ada", "pw")
    answer = client.post(
        "/_dash-update-component",
        json={
            "output": "..key-result.children...key-input.value...key-list.children..",
            "outputs": [
                {"id": "key-result", "property": "children"},
                {"id": "key-input", "property": "value"},
                {"id": "key-list", "property": "children"},
            ],
            "inputs": [
                {"id": "key-add", "property": "n_clicks", "value": 1},
                {
                    "id": {"type": "key-del", "fingerprint": ["ALL"]},
                    "property": "n_clicks",
                    "value": [],
                },
            ],
            "state": [{"id": "key-input", "property": "value", "value": GOOD}],
            "changedPropIds": ["key-add.n_clicks"],
        },
    )
    body = json.loads(answer.get_data(as_text=True))
    assert GOOD not in json.dumps(body)  # neither echoed nor left in the field
    assert body["response"]["key-input"]["value"] == ""

    assert handlers.delete_key("ada", key_fingerprint(GOOD)).startswith("Deleted")
    assert path.read_text() == ""
    assert handlers.delete_key("ada", "key:00000000").startswith("No key")
