"""A real single-node Kubernetes cluster for the product, in a network namespace of its own.

- `node.run_cluster`: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
  kube-proxy (built by `make servers`), containerd + runc + CNI (Debian), CoreDNS; node Ready.
- `net`: the namespace (no interface to the outside) and the host's relays into it.
- `images`: the product image (`make image`), pause, CoreDNS and FerretDB images.
- `release`: `helm install` of charts/discover-weekly into it (Helm's Go SDK), with the X API
  emulator and FerretDB as pods.
- ``python -m tests.cluster up`` (`make cluster-up`): a cluster for a person until Ctrl-C;
  ``python -m tests.cluster test`` (`make cluster-test`): the end-to-end and failure tests,
  then one JSON line of results.

Inside pytest this package is ``cluster`` (tests/ is on pytest's pythonpath, like ``servers``).
"""
