"""Resource definitions served by the emulator: the built-in kinds the project touches, and CRDs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from kube.schemas import CrdSchema

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclasses.dataclass(frozen=True)
class ScalePaths:
    """Where a /scale subresource reads and writes (CRD ``subresources.scale`` notation)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = None  # a string field; None: render .spec.selector (apps/v1)


@dataclasses.dataclass(frozen=True)
class ResourceDef:
    """One group/version/plural: how it is addressed, and which API semantics apply to it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # has the /status subresource
    scale: ScalePaths | None = None  # has the /scale subresource
    generation: bool = True  # metadata.generation counts changes outside metadata/status
    custom: bool = False  # a custom resource (no strategic merge; DELETE returns the object)
    schema: CrdSchema | None = None
    storage_version: str | None = None  # CRD versions share one storage
    shortnames: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[Mapping[str, Any], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def storage_key(self) -> tuple[str, str, str]:
        return (self.group, self.storage_version or self.version, self.plural)

    @property
    def group_resource(self) -> str:
        """How the API server names the resource in messages: ``plural`` or ``plural.group``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def subresources(self) -> set[str]:
        return {name for name, on in (("status", self.status), ("scale", self.scale)) if on}


def _core(plural: str, kind: str, **kw: Any) -> ResourceDef:
    return ResourceDef("", "v1", plural, kind, **kw)


_DEPLOYMENT_SCALE = ScalePaths()

BUILTINS: tuple[ResourceDef, ...] = (
    _core("namespaces", "Namespace", namespaced=False, status=True, generation=False,
          shortnames=("ns",)),
    _core("configmaps", "ConfigMap", generation=False, shortnames=("cm",)),
    _core("secrets", "Secret", generation=False),
    _core("events", "Event", generation=False, shortnames=("ev",)),
    _core("serviceaccounts", "ServiceAccount", generation=False, shortnames=("sa",)),
    _core("services", "Service", status=True, generation=False, shortnames=("svc",),
          categories=("all",)),
    _core("pods", "Pod", status=True, generation=False, shortnames=("po",),
          categories=("all",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", status=True, generation=False,
          shortnames=("pvc",)),
    ResourceDef("apps", "v1", "deployments", "Deployment", status=True, scale=_DEPLOYMENT_SCALE,
                shortnames=("deploy",), categories=("all",)),
    ResourceDef("apps", "v1", "statefulsets", "StatefulSet", status=True,
                scale=_DEPLOYMENT_SCALE, shortnames=("sts",), categories=("all",)),
    ResourceDef("batch", "v1", "jobs", "Job", status=True, categories=("all",)),
    ResourceDef("coordination.k8s.io", "v1", "leases", "Lease", generation=False),
    ResourceDef("events.k8s.io", "v1", "events", "Event", generation=False, shortnames=("ev",)),
    ResourceDef("rbac.authorization.k8s.io", "v1", "roles", "Role", generation=False),
    ResourceDef("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding",
                generation=False),
    ResourceDef("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole",
                namespaced=False, generation=False),
    ResourceDef("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
                namespaced=False, generation=False),
    ResourceDef("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy",
                shortnames=("netpol",)),
    ResourceDef("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                "CustomResourceDefinition", namespaced=False, status=True,
                shortnames=("crd", "crds")),
)


def _kopf_peering_crd(group: str, plural: str, kind: str, scope: str) -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": schema}}],
        },
    }


# kopf's peering CRDs, as kopf's docs ship them (kopf.dev and the legacy zalando.org group).
KOPF_PEERING_CRDS: tuple[dict[str, Any], ...] = tuple(
    _kopf_peering_crd(group, plural, kind, scope)
    for group in ("kopf.dev", "zalando.org")
    for plural, kind, scope in (("clusterkopfpeerings", "ClusterKopfPeering", "Cluster"),
                                ("kopfpeerings", "KopfPeering", "Namespaced"))
)


class CrdError(ValueError):
    """A CRD the API server would refuse (422)."""


def _parse_scale(scale: Mapping[str, Any] | None) -> ScalePaths | None:
    if scale is None:
        return None
    return ScalePaths(spec_replicas=scale.get("specReplicasPath", ".spec.replicas"),
                      status_replicas=scale.get("statusReplicasPath", ".status.replicas"),
                      label_selector=scale.get("labelSelectorPath") or "")


def defs_from_crd(crd: Mapping[str, Any]) -> Iterator[ResourceDef]:
    """The served versions of an apiextensions.k8s.io/v1 CRD (raises `CrdError` if malformed)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not group or not plural or not kind:
        raise CrdError("spec.group, spec.names.plural and spec.names.kind are required")
    if (crd.get("metadata") or {}).get("name") != f"{plural}.{group}":
        raise CrdError(f"metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group"
                       f" ({plural}.{group})")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        raise CrdError("spec.scope: Unsupported value: supported values: Namespaced, Cluster")
    versions = spec.get("versions") or []
    storage = [v["name"] for v in versions if v.get("storage")]
    if len(storage) != 1:
        raise CrdError("spec.versions: Invalid value: must have exactly one version marked as "
                       "storage version")
    for version in versions:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        raw_schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if raw_schema is None:
            raise CrdError(f"spec.versions[{version['name']}].schema.openAPIV3Schema: "
                           "Required value")
        try:
            schema = CrdSchema(raw_schema)
        except Exception as e:
            raise CrdError(f"spec.versions[{version['name']}].schema.openAPIV3Schema: "
                           f"Invalid value: {e}") from e
        yield ResourceDef(
            group, version["name"], plural, kind,
            namespaced=spec["scope"] == "Namespaced",
            status="status" in subresources,
            scale=_parse_scale(subresources.get("scale")),
            custom=True, schema=schema, storage_version=storage[0],
            shortnames=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
        )
