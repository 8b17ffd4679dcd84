"""Real servers for the tests, built from Go modules by `make servers` (tools/servers/).

- `ferretdb.run_ferretdb`: FerretDB v1 on its embedded SQLite backend (MongoDB wire protocol).
- `kube.run_kube`: kube-apiserver + etcd (no controller-manager, scheduler or kubelet).
- `fixtures`: the session-scoped pytest fixtures ``ferretdb_url`` and ``kube_api`` over them
  (tests/conftest.py imports them); they fail, not skip, when `make servers` has not run.
- `paths`: where tools/servers/build.sh puts each binary (from tools/servers/versions.txt).

Inside pytest this package is ``servers`` (tests/ is on pytest's pythonpath, like ``kube``);
from the repository root it is also ``tests.servers`` (``python -m tests.servers.kube``).
"""
