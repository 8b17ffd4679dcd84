"""A Kubernetes API emulator for the operator's tests (no API server can run on these machines).

`emulator.KubeEmulator` is a `kmock.KubernetesEmulator` that behaves enough like a real API
server for the real `kopf`, the `kubernetes` client and `kubectl` to work against it over HTTP;
`fixtures` starts it on a loopback port, writes a kubeconfig and runs kopf against it.
"""

from kube.emulator import ApiError, KubeEmulator, ResourceDef

__all__ = ["ApiError", "KubeEmulator", "ResourceDef"]
