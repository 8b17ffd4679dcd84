"""API keys in the dashboard: checked with X (the emulator) before they are kept, shown
by fingerprint only, never sent back to a page; deletion. In a file (local mode), and in the
chart's Secret on a REAL kube-apiserver (`kube_api`, tests/servers/) under the chart's
dashboard ServiceAccount, whose Role reaches that one Secret and nothing else."""

from __future__ import annotations

import base64
import json
import logging
import stat

import kubernetes
import pytest

from dashboard_client import login
from dwt.generate import generate_community
from dwt.xapi.client import key_fingerprint
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.keys import FileKeyStore, KeyRefused, SecretKeyStore
from dwt_dashboard.launcher import LocalLauncher
from servers.apply import (
    FULLNAME,
    KEYS_SECRET,
    chart_in_fresh_namespace,
    dashboard_token,
    fresh_namespace,
)
from servers.kube import KubeServer

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
                {"id": "key-del-confirm", "property": "submit_n_clicks", "value": None},
            ],
            "state": [
                {"id": "key-input", "property": "value", "value": GOOD},
                {"id": "key-del-pending", "property": "data", "value": None},
            ],
            "changedPropIds": ["key-add.n_clicks"],
        },
    )
    body = json.loads(answer.get_data(as_text=True))
    assert GOOD not in json.dumps(body)  # neither echoed nor left in the field
    assert body["response"]["key-input"]["value"] == ""

    assert handlers.delete_key("ada", key_fingerprint(GOOD)).startswith("Deleted")
    assert path.read_text() == ""
    assert handlers.delete_key("ada", "key:00000000").startswith("No key")


def _secret_data(kube: KubeServer, ns: str, name: str) -> dict[str, str]:
    secret = kube._ok("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def test_keys_in_the_charts_secret_as_the_dashboards_account(
    x_api, store, kube_api: KubeServer, caplog
):
    caplog.set_level(logging.DEBUG)  # not even debug logging may carry a key
    ns, _ = chart_in_fresh_namespace(kube_api, "keys")
    core = kubernetes.client.CoreV1Api(kube_api.client(dashboard_token(kube_api, ns)))
    keys = SecretKeyStore(core, ns, KEYS_SECRET, x_api)
    users = UserDirectory.parse(user_line("ada", "pw", ["sample"], iterations=1000))
    handlers = create_app(store, LocalLauncher(store), users, keys=keys).handlers
    assert keys.list() == []  # the chart made it, empty
    assert handlers.add_key("ada", BAD).startswith("Not added: X refused this key")
    assert _secret_data(kube_api, ns, KEYS_SECRET) == {}
    assert handlers.add_key("ada", GOOD).startswith(f"Added {key_fingerprint(GOOD)}")
    (entry,) = _secret_data(kube_api, ns, KEYS_SECRET).items()
    assert entry == ("key-" + key_fingerprint(GOOD).removeprefix("key:"), GOOD)
    assert handlers.add_key("ada", GOOD).startswith(f"Added {key_fingerprint(GOOD)}")
    assert len(_secret_data(kube_api, ns, KEYS_SECRET)) == 1  # the same key once
    page = str(handlers.page("ada", "/keys", "sample"))
    assert key_fingerprint(GOOD) in page and GOOD not in page
    assert keys.first_token() == GOOD
    assert handlers.delete_key("ada", key_fingerprint(GOOD)).startswith("Deleted")
    assert _secret_data(kube_api, ns, KEYS_SECRET) == {}
    secret = kube_api._ok("GET", f"/api/v1/namespaces/{ns}/secrets/{KEYS_SECRET}")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    encoded = base64.b64encode(GOOD.encode()).decode()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged and GOOD not in logged and encoded not in logged


def test_the_dashboards_account_reaches_only_its_own_secret(x_api, kube_api: KubeServer):
    ns, _ = chart_in_fresh_namespace(kube_api, "keys-rbac")
    token = dashboard_token(kube_api, ns)
    core = kubernetes.client.CoreV1Api(kube_api.client(token))
    own = SecretKeyStore(core, ns, KEYS_SECRET, x_api)
    assert own.list() == []
    for other in (f"{FULLNAME}-ray-auth", f"{FULLNAME}-mongodb-credentials", "no-such"):
        store = SecretKeyStore(core, ns, other, x_api)
        with pytest.raises(KeyRefused, match=f"{ns}/{other}: the Kubernetes API answered 403"):
            store.list()
        with pytest.raises(KeyRefused, match="answered 403"):
            store._put("key-x", "stolen")
    listing = kube_api.request("GET", f"/api/v1/namespaces/{ns}/secrets", token=token)
    assert listing[0] == 403
    assert kube_api.request("GET", "/api/v1/secrets", token=token)[0] == 403
    assert (
        kube_api.request(
            "POST", f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "new"}}, token=token
        )[0]
        == 403
    )
    assert (
        kube_api.request("DELETE", f"/api/v1/namespaces/{ns}/secrets/{KEYS_SECRET}", token=token)[0]
        == 403
    )
    assert "stolen" not in json.dumps(kube_api._ok("GET", f"/api/v1/namespaces/{ns}/secrets"))
    # The same Secret name in another namespace is out of reach too.
    elsewhere = fresh_namespace(kube_api, "keys-elsewhere")
    kube_api._ok(
        "POST", f"/api/v1/namespaces/{elsewhere}/secrets", {"metadata": {"name": KEYS_SECRET}}
    )
    with pytest.raises(KeyRefused, match="answered 403"):
        SecretKeyStore(core, elsewhere, KEYS_SECRET, x_api).list()


def test_a_secret_the_chart_did_not_make_is_said_missing(x_api, store, kube_api: KubeServer):
    """With apiKeys.existingSecret the person makes the Secret; until then the dashboard's
    Role (for that name) lets it see that the Secret is missing (404), not forbidden."""
    ns, _ = chart_in_fresh_namespace(
        kube_api, "keys-existing", {"apiKeys": {"existingSecret": "team-keys"}}
    )
    core = kubernetes.client.CoreV1Api(kube_api.client(dashboard_token(kube_api, ns)))
    keys = SecretKeyStore(core, ns, "team-keys", x_api)
    users = UserDirectory.parse(user_line("ada", "pw", ["sample"], iterations=1000))
    handlers = create_app(store, LocalLauncher(store), users, keys=keys).handlers
    assert "does not exist" in handlers.add_key("ada", GOOD)
    assert "does not exist" in str(handlers.page("ada", "/keys", "sample"))
    kube_api._ok("POST", f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "team-keys"}})
    assert handlers.add_key("ada", GOOD).startswith(f"Added {key_fingerprint(GOOD)}")
    assert list(_secret_data(kube_api, ns, "team-keys").values()) == [GOOD]


def test_keys_added_at_once_are_all_kept(tmp_path):
    """Two people adding keys at the same moment used to lose one (and one got a 500: both
    wrote the same partial file). Changes are made under an exclusive lock."""
    import threading

    from dwt_dashboard.keys import FileKeyStore

    keys = FileKeyStore(tmp_path / "keys", "http://127.0.0.1:9")
    added = [f"key-{t}-{i}" for t in range(6) for i in range(15)]
    errors: list[Exception] = []

    def add(mine: list[str]) -> None:
        try:
            for token in mine:
                keys._put("", token)
        except Exception as exc:  # noqa: BLE001 - collected and asserted empty below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(added[t * 15 : (t + 1) * 15],)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(keys._entries().values()) == sorted(added)
    assert oct((tmp_path / "keys").stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", "keys.lock"]  # no partials
