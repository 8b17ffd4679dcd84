"""`KubeEmulator`: kmock's `KubernetesEmulator` grown into an API server good enough for kopf.

kmock 0.8 (pinned in requirements/constraints.txt) keeps objects in memory and serves discovery,
but as ARCHITECTURE.md records, the real kopf, `kubernetes` client and kubectl need more from a
server. This subclass keeps kmock's pieces that work — discovery, the request log
(``emu.requests``-style views: ``list(emu['patch'])``) and reaction DSL, the object store with
its history (``emu.objects['apps/v1/deployments', 'ns', 'name', :]``) — and replaces the
request handling of resources with a small API server. A user's reaction
(``emu['patch', kmock.resource('apps', 'v1', 'deployments')] << 500``) answers the requests it
matches instead of the emulation, and then nothing is stored (unlike plain kmock, which stores
first): an injected failure is a failure. The emulation:

* metadata.uid / resourceVersion (one cluster-wide counter, as etcd's revision) /
  creationTimestamp / generation (bumped by changes outside metadata and, with a status
  subresource, status); namespace from the URL; ``generateName``; 201 on create; 409 on
  duplicates and stale resourceVersions; no-op writes change nothing and notify nobody;
* PATCH as JSON patch (a failed ``test`` → 422), JSON merge patch, strategic merge patch
  (approximated; 415 for custom resources, as a real server says), apply patch (as a merge);
  PUT (replace); ``dryRun``;
* the ``/status`` and ``/scale`` subresources; deletion through finalizers (DELETE sets
  deletionTimestamp, removing the last finalizer deletes: watchers see MODIFIED, then
  DELETED); namespace deletion cascades; ownerReference garbage collection (background);
* lists with ``kind: XList``, apiVersion, resourceVersion, label/field selectors and
  ``limit``/``continue``; watches that resume from a resourceVersion (410 when too old),
  honour ``timeoutSeconds``, selectors, ``allowWatchBookmarks`` and ``sendInitialEvents``;
* CRDs: created through the API or given to the constructor, they register their resources
  (discovery included) and their ``openAPIV3Schema`` prunes, defaults and validates (422
  ``Invalid`` with a `Status` body, like a real server); deleting a CRD deletes its objects.

Also: Table output for kubectl's human-readable ``get`` (Name, then the CRD's printer columns
with simple JSONPaths, else Age), ``fieldValidation=Strict`` for custom resources.

Not emulated (see also `kube.schemas`): controllers (no pods appear; a Deployment's status
stays empty unless ``deployment_controller=True``), admission webhooks, RBAC/auth (any token is
accepted), server-side apply's field ownership (managedFields), foreground deletion (treated as
background), OpenAPI documents (kubectl needs ``--validate=false``), protobuf and CBOR bodies
(kubectl's typed generators — ``create namespace|configmap|deployment`` — send protobuf and get
415: use manifests with ``apply -f``), Tables in watches (``get -w``), and version conversion
beyond rewriting apiVersion. Objects must be touched from the server's event loop once it runs
(the fixtures' `KubeAPI.call` does that).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import copy
import dataclasses
import datetime
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import rendering  # kmock 0.8: Request and StreamingError live here

from kube import patches
from kube.resources import (
    BUILTINS,
    KOPF_PEERING_CRDS,
    VERBS,
    CrdError,
    ResourceDef,
    defs_from_crd,
)
from kube.selectors import SelectorError, field_selector, label_selector, selector_string

Obj = dict[str, Any]
Key = tuple[str, str, str]  # group, version, plural

_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation", "name", "namespace")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAMESPACES: Key = ("", "v1", "namespaces")
_CRDS: Key = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
_WORKLOADS = {("apps", "v1", "deployments"), ("apps", "v1", "statefulsets")}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An API failure answered as a Kubernetes `Status` (what clients parse into their errors)."""

    def __init__(self, code: int, reason: str, message: str,
                 details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = dict(details or {})

    def status(self) -> Obj:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details,
                "code": self.code}


def _not_found(defn: ResourceDef, name: str) -> ApiError:
    details = {"name": name, "group": defn.group, "kind": defn.plural}
    return ApiError(404, "NotFound", f'{defn.group_resource} "{name}" not found', details)


def _no_such_resource() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _conflict(defn: ResourceDef, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {defn.group_resource} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try "
                    "again", {"name": name, "group": defn.group, "kind": defn.plural})


def _invalid(defn: ResourceDef, name: str, causes: list[dict[str, str]]) -> ApiError:
    texts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    joined = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
    kind = f"{defn.kind}.{defn.group}" if defn.group else defn.kind
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}',
                    {"name": name, "group": defn.group, "kind": defn.kind, "causes": causes})


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


@dataclasses.dataclass(frozen=True)
class _Event:
    rv: int
    storage_key: Key
    namespace: str | None
    type: str
    obj: Obj


@dataclasses.dataclass(frozen=True)
class _Path:
    group: str | None = None
    version: str | None = None
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_path(path: str) -> _Path:
    """Split an API path; kmock 0.8's parser raises on /api/v1/namespaces and misreads
    /api/v1/namespaces/NAME as a namespace, so the emulator parses paths itself."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 2 and parts[0] == "apis":
        group, version, rest = parts[1], (parts[2] if len(parts) > 2 else None), parts[3:]
    else:
        return _Path()
    namespace = None
    if rest and rest[0] == "namespaces":
        namespaced_path = len(rest) >= 3 and not (
            group == "" and len(rest) == 3 and rest[2] in ("status", "finalize"))
        if namespaced_path:
            namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return _Path(group, version, plural, namespace, name, subresource)


class _Emulate(Exception):
    """Raised by the lowest-priority reaction: no user reaction took the request."""


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """An in-memory Kubernetes API server for kopf, the `kubernetes` client and kubectl.

    Serve it with ``kmock.Server(emu, host='127.0.0.1')`` (or `kube.fixtures.kube_api`).
    ``crds``: CRD dicts to install at start (e.g. the project's CommunityJob CRD);
    ``namespaces``: namespaces that exist at start; ``require_namespaces``: refuse objects in
    absent namespaces (404) like a real server; ``kopf_peerings``: install kopf's peering CRDs;
    ``deployment_controller``: make Deployments/StatefulSets report all replicas ready at once;
    ``garbage_collection``: delete dependents whose ownerReferences all point to deleted owners.
    """

    crds: Iterable[Mapping[str, Any]] = ()
    namespaces: Iterable[str] = ("default", "kube-system", "kube-public", "kube-node-lease")
    require_namespaces: bool = True
    kopf_peerings: bool = True
    deployment_controller: bool = False
    garbage_collection: bool = True
    bookmark_interval: float = 30.0
    max_log: int = 50_000

    failures: list[BaseException] = attrs.field(factory=list, init=False)
    _defs: dict[Key, ResourceDef] = attrs.field(factory=dict, init=False)
    _storage_defs: dict[Key, ResourceDef] = attrs.field(factory=dict, init=False)
    _crd_defs: dict[str, list[ResourceDef]] = attrs.field(factory=dict, init=False)
    _refs: dict[Key, kmock.resource] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _log: list[_Event] = attrs.field(factory=list, init=False)
    _log_base: int = attrs.field(default=0, init=False)
    _trimmed_rv: int = attrs.field(default=0, init=False)
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _closing: bool = attrs.field(default=False, init=False)
    _watchers: Counter[Key] = attrs.field(factory=Counter, init=False)
    _uids: dict[str, tuple[Key, str | None, str]] = attrs.field(factory=dict, init=False)
    _own_payloads: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        # kmock 0.8: KubernetesEmulator.__attrs_post_init__ registers its own fallbacks
        # (_serve_list, _serve_create, ...) that would answer before ours; keep only the
        # scaffold's discovery endpoints and its 404 catch-all, then add one reaction that
        # hands every resource request not taken by a user's reaction to the emulation.
        kmock.KubernetesScaffold.__attrs_post_init__(self)
        self.fallback["get /apis/"] << self._serve_apis  # the kubernetes client's ApisApi
        self.fallback["get /api/"] << self._serve_api
        self.fallback[self._is_resource_request] << _Emulate
        self._own_payloads = len(self._payloads)
        for defn in BUILTINS:
            self.register(defn)
        for ns in self.namespaces:
            self.create_object("v1/namespaces", {"metadata": {"name": ns}})
        for crd in (*(KOPF_PEERING_CRDS if self.kopf_peerings else ()), *self.crds):
            self.add_crd(crd)

    # ---------------------------------------------------------------- registration & lookup

    def register(self, defn: ResourceDef) -> None:
        """Serve a resource (discovery included); CRDs do this through `add_crd`."""
        self._defs[defn.key] = defn
        if defn.storage_key == defn.key:
            self._storage_defs[defn.key] = defn
        self.resources[self._ref(defn.key)] = kmock.ResourceInfo(
            namespaced=defn.namespaced, kind=defn.kind, singular=defn.singular,
            verbs=set(VERBS), shortnames=set(defn.shortnames),
            categories=set(defn.categories), subresources=defn.subresources)

    def unregister(self, key: Key) -> None:
        self._defs.pop(key, None)
        self._storage_defs.pop(key, None)
        if self._ref(key) in self.resources:
            del self.resources[self._ref(key)]

    def add_crd(self, crd: Mapping[str, Any]) -> Obj:
        """Install a CRD as if `kubectl apply`-ed: stored, registered, Established."""
        return self.create_object(_CRDS, copy.deepcopy(dict(crd)))

    def _ref(self, key: Key) -> kmock.resource:
        if key not in self._refs:
            self._refs[key] = kmock.resource(*key)
        return self._refs[key]

    def _lookup(self, resource: kmock.resource | str | Key) -> ResourceDef:
        if isinstance(resource, tuple):
            key = resource
        else:
            ref = kmock.resource(resource) if isinstance(resource, str) else resource
            key = (ref.group or "", ref.version or "", ref.plural or "")
        if key not in self._defs and self._ref(key) in self.resources:
            # Declared the kmock way (emu.resources['g/v/plural'] = ResourceInfo(...)).
            info = self.resources[self._ref(key)]
            self.register(ResourceDef(
                key[0], key[1], key[2], info.kind or key[2].capitalize(),
                namespaced=info.namespaced is not False, status="status" in info.subresources))
        if key not in self._defs:
            raise _no_such_resource()
        return self._defs[key]

    # kmock 0.8: discovery (KubernetesScaffold._serve_version/_serve_group/_serve_apis) reads
    # resources from here; the parent adds resources of stored objects, which would keep a
    # deleted CRD's resources discoverable — serve only what is registered.
    def _get_resources(self) -> list[kmock.resource]:
        return [self._ref(key) for key in self._defs]

    def _group_versions(self) -> dict[str, list[str]]:
        """Served versions per group, the preferred (storage, else first) version first."""
        groups: dict[str, list[str]] = {}
        for defn in self._defs.values():
            versions = groups.setdefault(defn.group, [])
            if defn.version not in versions:
                versions.insert(0 if defn.storage_key == defn.key else len(versions),
                                defn.version)
        return groups

    @staticmethod
    def _api_group(group: str, versions: list[str]) -> Obj:
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    # kmock 0.8: KubernetesScaffold's /apis and /apis/GROUP pick the preferred version from a
    # set (at random); CRD versions need a stable one.
    async def _serve_apis(self, request: rendering.Request) -> Obj:
        groups = [self._api_group(g, vs) for g, vs in self._group_versions().items() if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    async def _serve_group(self, request: rendering.Request) -> Obj:
        assert request.resource is not None
        versions = self._group_versions().get(request.resource.group or "")
        if not request.resource.group or not versions:
            raise _no_such_resource()
        return {"kind": "APIGroup", "apiVersion": "v1",
                **self._api_group(request.resource.group, versions)}

    # kmock 0.8: KubernetesScaffold._serve_version names the core group "/v1" and lists
    # subresources with their parent's kind, verbs and short names (kubectl then finds "ns"
    # and "cm" ambiguous); list them as a real server does.
    async def _serve_version(self, request: rendering.Request) -> Obj:
        assert request.resource is not None
        group, version = request.resource.group or "", request.resource.version
        defs = [d for d in self._defs.values() if d.group == group and d.version == version]
        if not defs:
            raise _no_such_resource()
        resources: list[Obj] = []
        for d in defs:
            resources.append({"name": d.plural, "singularName": d.singular,
                              "namespaced": d.namespaced, "kind": d.kind, "verbs": list(VERBS),
                              "shortNames": list(d.shortnames),
                              "categories": list(d.categories)})
            sub_verbs = ["get", "patch", "update"]
            if d.status:
                resources.append({"name": f"{d.plural}/status", "singularName": "",
                                  "namespaced": d.namespaced, "kind": d.kind, "verbs": sub_verbs})
            if d.scale:
                resources.append({"name": f"{d.plural}/scale", "singularName": "",
                                  "namespaced": d.namespaced, "group": "autoscaling",
                                  "version": "v1", "kind": "Scale", "verbs": sub_verbs})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": defs[0].api_version, "resources": resources}

    # ---------------------------------------------------------------- HTTP entry points

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock 0.8: RawHandler.__call__ parses requests with kmock's own path parser (see
        # parse_path); this mirrors it with ours, and keeps failures for tests to assert on.
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            request = await self._parse_request(raw_request)
            self._requests.append(request)
            try:
                return await self._handle(request)
            except rendering.StreamingError as e:
                raw_response = e.args[0]
                raise (e.__cause__ or e) from None
        except Exception as e:  # noqa: BLE001 — a server answers every request, 500 at worst
            if not isinstance(e, (kmock.KubernetesError, ApiError)):  # deliberate 4xx answers
                self.failures.append(e)
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(e)
            await self._stream_error(e, raw_response)
            await raw_response.write_eof()
            return raw_response

    async def _parse_request(self, raw: aiohttp.web.BaseRequest) -> rendering.Request:
        body = await raw.read()
        text = body.decode("utf-8", "replace")
        data: Any = None
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                if "yaml" in raw.headers.get("Content-Type", ""):
                    try:
                        data = yaml.safe_load(text)
                    except yaml.YAMLError:
                        data = None
        path = parse_path(raw.path)
        resource = None if path.group is None else kmock.resource(
            group=path.group, version=path.version, plural=path.plural)
        return rendering.Request(
            id=len(self._requests), raw_request=raw, url=raw.url, method=raw.method,
            params=dict(raw.query), headers=dict(raw.headers), cookies=dict(raw.cookies),
            data=data, body=body, text=text, action=_guess_action(raw.method, path, raw.query),
            resource=resource, namespace=path.namespace, name=path.name,
            subresource=path.subresource)

    @staticmethod
    def _is_resource_request(request: rendering.Request) -> bool:
        res = request.resource
        return res is not None and res.version is not None and res.plural is not None

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        # kmock 0.8: KubernetesEmulator._handle mutates its store before the reactions run;
        # bypass it. Without user reactions, resource requests skip kmock's reaction matching
        # (it re-filters the whole request log on every request).
        if not self._is_resource_request(request):
            return await kmock.RawHandler._handle(self, request)
        if len(self._payloads) > self._own_payloads:
            try:
                return await kmock.RawHandler._handle(self, request)
            except _Emulate:
                pass
        return await self._emulate(request)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, ApiError):
            return aiohttp.web.json_response(exc.status(), status=exc.code)
        return await super()._render_error(exc)

    async def _emulate(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            assert request.resource is not None
            defn = self._lookup(request.resource)
            method = str(request.method.value).upper()
            if method == "GET" and _is_watch(request.params):
                return await self._watch(request, defn)
            code, body = self._dispatch(request, defn, method)
            if method == "GET" and "as=Table" in request.headers.get("Accept", "") and (
                    request.subresource is None):
                body = self._table(defn, body)
            return aiohttp.web.json_response(body, status=code)
        except ApiError as e:
            return aiohttp.web.json_response(e.status(), status=e.code)

    def _dispatch(self, request: rendering.Request, defn: ResourceDef,
                  method: str) -> tuple[int, Obj]:
        ns, name, sub, params = request.namespace, request.name, request.subresource, request.params
        if defn.namespaced and name is not None and ns is None:
            raise _no_such_resource()
        if not defn.namespaced and ns is not None:
            raise _no_such_resource()
        dry_run = "dryRun" in params
        opts = {"dry_run": dry_run, "strict": params.get("fieldValidation") == "Strict"}
        data = request.data
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if request.body and data is None:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format ({ctype}) - this "
                           "emulator accepts JSON and YAML only")
        if name is None:
            if method == "GET":
                return 200, self._list(defn, ns, params)
            if method == "POST":
                return 201, self._create(defn, ns, data, **opts)
            if method == "DELETE":
                return 200, self._delete_collection(defn, ns, params,
                                                    _delete_options(params, data),
                                                    dry_run=dry_run)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")
        current = self._current(defn, ns, name)
        if sub is None:
            if method == "GET":
                return 200, self._present(defn, self._require(defn, current, name))
            if method == "PATCH":
                if current is None and ctype == patches.APPLY_PATCH:
                    body = dict(data or {})
                    body.setdefault("metadata", {})["name"] = name
                    return 201, self._create(defn, ns, body, **opts)
                current = self._require(defn, current, name)
                new = self._patched(defn, current, data, ctype)
                rv = _rv_of(data) if ctype != patches.JSON_PATCH else None
                return 200, self._present(defn, self._update(
                    defn, current, new, check_rv=rv, **opts))
            if method == "PUT":
                current = self._require(defn, current, name)
                self._check_put_body(defn, data, name)
                return 200, self._present(defn, self._update(
                    defn, current, copy.deepcopy(data), check_rv=_rv_of(data), **opts))
            if method == "DELETE":
                current = self._require(defn, current, name)
                return self._delete(defn, current, _delete_options(params, data),
                                    dry_run=dry_run)
        elif sub == "status" and defn.status:
            current = self._require(defn, current, name)
            if method == "GET":
                return 200, self._present(defn, current)
            if method in ("PATCH", "PUT"):
                if method == "PATCH":
                    new, rv = self._patched(defn, current, data, ctype), None
                else:
                    self._check_put_body(defn, data, name)
                    new, rv = copy.deepcopy(data), _rv_of(data)
                return 200, self._present(defn, self._update(
                    defn, current, new, sub="status", check_rv=rv, **opts))
        elif sub == "scale" and defn.scale:
            current = self._require(defn, current, name)
            if method == "GET":
                return 200, self._scale_view(defn, current)
            if method in ("PATCH", "PUT"):
                scale = self._scale_view(defn, current)
                if method == "PATCH":
                    new_scale = self._patched(defn, scale, data, ctype, builtin=True)
                else:
                    new_scale = data if isinstance(data, dict) else {}
                return 200, self._scale(defn, current, new_scale, dry_run=dry_run)
        else:
            raise _no_such_resource()
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this path")

    # ---------------------------------------------------------------- storage primitives

    def _okey(self, key: Key, ns: str | None, name: str) -> tuple[kmock.resource, str | None, str]:
        return (self._ref(key), ns, name)

    def _current(self, defn: ResourceDef, ns: str | None, name: str) -> Obj | None:
        okey = self._okey(defn.storage_key, ns if defn.namespaced else None, name)
        if okey not in self._objects:
            return None
        obj = self._objects[okey]
        return None if obj.deleted else obj.raw

    def _require(self, defn: ResourceDef, current: Obj | None, name: str) -> Obj:
        if current is None:
            raise _not_found(defn, name)
        return current

    def _live(self, storage_key: Key, ns: str | None = None) -> list[Obj]:
        ref = self._ref(storage_key)
        found = [obj.raw for (res, obj_ns, _), obj in self._objects.items()
                 if res == ref and not obj.deleted and (ns is None or obj_ns == ns)]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace") or "",
                                            o["metadata"]["name"]))

    def _store(self, defn: ResourceDef, obj: Obj, event: str) -> None:
        meta = obj["metadata"]
        okey = self._okey(defn.storage_key, meta.get("namespace"), meta["name"])
        if okey not in self._objects:
            self._objects[okey] = obj
        else:
            self._objects[okey].history.append(obj)
        self._uids[meta["uid"]] = (defn.storage_key, meta.get("namespace"), meta["name"])
        self._emit(defn, event, obj)

    def _emit(self, defn: ResourceDef, event: str, obj: Obj) -> None:
        ns = obj["metadata"].get("namespace")
        self._log.append(_Event(self._rv, defn.storage_key, ns, event, obj))
        if len(self._log) > self.max_log:
            drop = len(self._log) // 2
            self._trimmed_rv = self._log[drop - 1].rv
            del self._log[:drop]
            self._log_base += drop
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _present(self, defn: ResourceDef, obj: Obj) -> Obj:
        """The object as seen through the requested version (no conversion beyond apiVersion)."""
        if obj.get("apiVersion") == defn.api_version:
            return obj
        return {**obj, "apiVersion": defn.api_version}

    # ---------------------------------------------------------------- create

    def _create(self, defn: ResourceDef, ns: str | None, body: Any, *, dry_run: bool,
                strict: bool = False) -> Obj:
        if not isinstance(body, dict):
            raise _bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if defn.namespaced:
            if ns is None:
                ns = meta.get("namespace")
            if meta.get("namespace") not in (None, "", ns):
                raise _bad_request("the namespace of the provided object does not match the "
                                   "namespace sent on the request")
            if not ns:
                raise _no_such_resource()
            meta["namespace"] = ns
            self._require_namespace(ns)
        else:
            meta.pop("namespace", None)
        name = meta.get("name")
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise _invalid(defn, "", [{"reason": "FieldValueRequired",
                                           "field": "metadata.name",
                                           "message": "Required value: name or generateName "
                                                      "is required"}])
            name = self._generate_name(defn, ns, prefix)
            meta["name"] = name
        self._check_name(defn, name)
        if self._current(defn, ns, name) is not None:
            raise ApiError(409, "AlreadyExists", f'{defn.group_resource} "{name}" already exists',
                           {"name": name, "group": defn.group, "kind": defn.plural})
        obj["apiVersion"], obj["kind"] = self._storage_api_version(defn), defn.kind
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                      "resourceVersion", "managedFields"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if defn.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if defn.status:
            obj.pop("status", None)
        self._prepare(defn, obj, None, strict=strict)
        self._validate(defn, obj)
        if dry_run:
            meta["resourceVersion"] = str(self._rv)
            return self._present(defn, obj)
        meta["resourceVersion"] = self._next_rv()
        self._store(defn, obj, "ADDED")
        self._after_write(defn, None, obj)
        return self._present(defn, obj)

    def _generate_name(self, defn: ResourceDef, ns: str | None, prefix: str) -> str:
        while True:
            name = prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))
            if self._current(defn, ns, name) is None:
                return name

    def _check_name(self, defn: ResourceDef, name: str) -> None:
        label_only = defn.key == _NAMESPACES
        ok = (_LABEL_RE.match(name) and len(name) <= 63) if label_only else (
            _NAME_RE.match(name) and len(name) <= 253)
        if not ok:
            rule = "RFC 1123 label" if label_only else "RFC 1123 subdomain"
            raise _invalid(defn, name, [{
                "reason": "FieldValueInvalid", "field": "metadata.name",
                "message": f'Invalid value: "{name}": a lowercase {rule} must consist of lower '
                           "case alphanumeric characters, '-' or '.', and must start and end "
                           "with an alphanumeric character"}])

    def _require_namespace(self, ns: str) -> None:
        if not self.require_namespaces:
            return
        ns_def = self._defs[_NAMESPACES]
        current = self._current(ns_def, None, ns)
        if current is None:
            raise _not_found(ns_def, ns)
        if current["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"unable to create new content in namespace {ns} "
                           "because it is being terminated",
                           {"name": ns, "kind": "namespaces"})

    def _storage_api_version(self, defn: ResourceDef) -> str:
        storage = self._storage_defs.get(defn.storage_key, defn)
        return storage.api_version

    # ---------------------------------------------------------------- update

    def _check_put_body(self, defn: ResourceDef, data: Any, name: str) -> None:
        if not isinstance(data, dict):
            raise _bad_request("the body of the request must be a JSON object")
        body_name = (data.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise _bad_request(f"the name of the object ({body_name}) does not match the name "
                               f"on the URL ({name})")

    def _patched(self, defn: ResourceDef, current: Obj, data: Any, ctype: str, *,
                 builtin: bool = False) -> Obj:
        try:
            if ctype == patches.JSON_PATCH:
                return patches.json_patch(current, data)
            if not isinstance(data, dict):
                raise _bad_request("the patch must be a JSON object")
            if ctype in (patches.MERGE_PATCH, patches.APPLY_PATCH):
                return patches.json_merge_patch(current, data)
            if ctype == patches.STRATEGIC_MERGE_PATCH and (builtin or not defn.custom):
                return patches.strategic_merge_patch(current, data)
        except patches.PatchError as e:
            raise ApiError(422, "Invalid", str(e)) from e
        raise ApiError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media types "
                       f"include: {patches.JSON_PATCH}, {patches.MERGE_PATCH}, "
                       f"{patches.APPLY_PATCH}"
                       + ("" if defn.custom else f", {patches.STRATEGIC_MERGE_PATCH}"))

    def _update(self, defn: ResourceDef, current: Obj, new: Any, *, sub: str | None = None,
                check_rv: str | None = None, dry_run: bool = False,
                strict: bool = False) -> Obj:
        """Commit a new state of an existing object (PATCH, PUT, /status, /scale)."""
        if not isinstance(new, dict):
            raise _bad_request("the object must be a JSON object")
        new = copy.deepcopy(new)  # patches share unchanged sub-dicts with the stored version
        old_meta = current["metadata"]
        name = old_meta["name"]
        if check_rv and check_rv != old_meta.get("resourceVersion"):
            raise _conflict(defn, name)
        if sub == "status":
            status = new.get("status")
            new = copy.deepcopy(current)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            meta = new.get("metadata")
            if not isinstance(meta, dict):
                meta = new["metadata"] = {}
            for field in _SYSTEM_META:
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            if defn.status:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
                if added:
                    raise _invalid(defn, name, [{
                        "reason": "FieldValueForbidden", "field": "metadata.finalizers",
                        "message": "Forbidden: no new finalizers can be added if the object is "
                                   f"being deleted, found new finalizers {sorted(added)}"}])
        new["apiVersion"], new["kind"] = current.get("apiVersion"), defn.kind
        new["metadata"]["resourceVersion"] = old_meta.get("resourceVersion")
        self._prepare(defn, new, current, strict=strict)
        self._validate(defn, new)
        if defn.generation and _spec_part(defn, new) != _spec_part(defn, current):
            new["metadata"]["generation"] = int(old_meta.get("generation") or 0) + 1
        if new == current:
            return current  # a no-op: no new resourceVersion, no watch event (as a real server)
        if dry_run:
            return new
        new["metadata"]["resourceVersion"] = self._next_rv()
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(defn, new)
        else:
            self._store(defn, new, "MODIFIED")
            self._after_write(defn, current, new)
        return new

    def _scale_view(self, defn: ResourceDef, obj: Obj) -> Obj:
        assert defn.scale is not None
        meta = obj["metadata"]
        if defn.scale.label_selector is None:
            selector = selector_string((obj.get("spec") or {}).get("selector"))
        elif defn.scale.label_selector:
            selector = _get_path(obj, defn.scale.label_selector) or ""
        else:
            selector = ""
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                               "creationTimestamp") if k in meta},
            "spec": {"replicas": _get_path(obj, defn.scale.spec_replicas) or 0},
            "status": {"replicas": _get_path(obj, defn.scale.status_replicas) or 0,
                       "selector": selector},
        }

    def _scale(self, defn: ResourceDef, current: Obj, scale: Any, *, dry_run: bool) -> Obj:
        assert defn.scale is not None
        replicas = ((scale or {}).get("spec") or {}).get("replicas")
        name = current["metadata"]["name"]
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise _invalid(defn, name, [{
                "reason": "FieldValueInvalid", "field": "spec.replicas",
                "message": f"Invalid value: {json.dumps(replicas)}: must be greater than or "
                           "equal to 0"}])
        new = copy.deepcopy(current)
        _set_path(new, defn.scale.spec_replicas, replicas)
        updated = self._update(defn, current, new, check_rv=_rv_of(scale), dry_run=dry_run)
        return self._scale_view(defn, updated)

    # ---------------------------------------------------------------- delete

    def _delete(self, defn: ResourceDef, current: Obj, options: Any, *,
                dry_run: bool) -> tuple[int, Obj]:
        options = options if isinstance(options, dict) else {}
        meta = current["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: "
                           f"{pre['uid']}, UID in object meta: {meta.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise ApiError(409, "Conflict", "Precondition failed: ResourceVersion in "
                           f"precondition: {pre['resourceVersion']}, ResourceVersion in object "
                           f"meta: {meta.get('resourceVersion')}")
        if dry_run or meta.get("deletionTimestamp"):
            return 200, self._present(defn, current)
        orphan = (options.get("propagationPolicy") == "Orphan"
                  or options.get("orphanDependents") is True)
        new = copy.deepcopy(current)
        if meta.get("finalizers") or defn.key == _NAMESPACES:
            new["metadata"]["deletionTimestamp"] = _now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if defn.key == _NAMESPACES:
                new.setdefault("status", {})["phase"] = "Terminating"
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._store(defn, new, "MODIFIED")
            if defn.key == _NAMESPACES:
                self._terminate_namespace(meta["name"])
                new = self._current(defn, None, meta["name"]) or new
            return 200, self._present(defn, new)
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._remove(defn, new, orphan=orphan)
        if defn.custom:
            return 200, self._present(defn, new)
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": meta["name"], "group": defn.group, "kind": defn.plural,
                                 "uid": meta.get("uid")}}

    def _delete_collection(self, defn: ResourceDef, ns: str | None, params: Mapping[str, str],
                           options: Any, *, dry_run: bool) -> Obj:
        items = self._list(defn, ns, {k: v for k, v in params.items()
                                      if k in ("labelSelector", "fieldSelector")})["items"]
        for obj in items:
            current = self._current(defn, obj["metadata"].get("namespace"),
                                    obj["metadata"]["name"])
            if current is not None:
                self._delete(defn, current, options or {}, dry_run=dry_run)
        return {"kind": f"{defn.kind}List", "apiVersion": defn.api_version,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _remove(self, defn: ResourceDef, final: Obj, *, orphan: bool = False) -> None:
        """Delete for good: the last state (with a new resourceVersion) goes to watchers."""
        meta = final["metadata"]
        okey = self._okey(defn.storage_key, meta.get("namespace"), meta["name"])
        self._objects[okey].history.append(final)
        self._objects[okey].delete()
        self._uids.pop(meta.get("uid", ""), None)
        self._emit(defn, "DELETED", final)
        self._after_write(defn, None, None, removed=final, orphan=orphan)

    def _terminate_namespace(self, ns: str) -> None:
        for skey, defn in list(self._storage_defs.items()):
            if not defn.namespaced:
                continue
            for obj in self._live(skey, ns):
                current = self._current(defn, ns, obj["metadata"]["name"])
                if current is not None:
                    self._delete(defn, current, {}, dry_run=False)
        self._maybe_finish_namespace(ns)

    def _maybe_finish_namespace(self, ns: str | None) -> None:
        ns_def = self._defs[_NAMESPACES]
        if ns is None or (current := self._current(ns_def, None, ns)) is None:
            return
        meta = current["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return
        if any(self._live(skey, ns) for skey, d in self._storage_defs.items() if d.namespaced):
            return
        final = copy.deepcopy(current)
        final["metadata"]["resourceVersion"] = self._next_rv()
        self._remove(ns_def, final)

    # ---------------------------------------------------------------- per-kind behaviour

    def _prepare(self, defn: ResourceDef, obj: Obj, current: Obj | None, *,
                 strict: bool = False) -> None:
        """Defaults and side data a real server adds on create/update, per kind."""
        if defn.schema is not None:
            unknown = defn.schema.normalize(obj)
            if strict and unknown:
                raise _bad_request(f"{defn.kind} in version \"{defn.version}\" cannot be "
                                   "handled as a " + defn.kind + ": strict decoding error: "
                                   + ", ".join(f'unknown field "{u}"' for u in unknown))
        if defn.key == _NAMESPACES:
            obj.setdefault("status", {}).setdefault("phase", "Active")
        elif defn.key in _WORKLOADS:
            spec = obj.setdefault("spec", {})
            if isinstance(spec, dict) and spec.get("replicas") is None:
                spec["replicas"] = 1
        elif defn.key == _CRDS:
            try:
                list(defs_from_crd(obj))  # validated here, registered after the write
            except CrdError as e:
                raise _invalid(defn, obj["metadata"].get("name", ""), [{
                    "reason": "FieldValueInvalid", "field": "", "message": str(e)}]) from e
            spec = obj["spec"]
            storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
            stored = set(((current or {}).get("status") or {}).get("storedVersions") or [])
            now = _now()
            obj["status"] = {
                "acceptedNames": copy.deepcopy(spec["names"]),
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": now},
                ],
                "storedVersions": sorted(stored | {storage}),
            }
            if current is not None and current.get("status", {}).get("conditions"):
                obj["status"]["conditions"] = current["status"]["conditions"]

    def _validate(self, defn: ResourceDef, obj: Obj) -> None:
        if defn.schema is None:
            return
        causes = defn.schema.causes(obj)
        if causes:
            raise _invalid(defn, obj["metadata"].get("name", ""), causes)

    def _after_write(self, defn: ResourceDef, old: Obj | None, new: Obj | None, *,
                     removed: Obj | None = None, orphan: bool = False) -> None:
        if defn.key == _CRDS:
            self._sync_crd(old, new, removed)
        if new is not None and defn.key in _WORKLOADS and self.deployment_controller:
            self._reconcile_workload(defn, new)
        if removed is not None:
            if self.garbage_collection and not orphan:
                self._collect_dependents(removed["metadata"].get("uid"))
            if defn.namespaced:
                self._maybe_finish_namespace(removed["metadata"].get("namespace"))

    def _sync_crd(self, old: Obj | None, new: Obj | None, removed: Obj | None) -> None:
        crd = new or removed or old
        assert crd is not None
        name = crd["metadata"]["name"]
        old_defs = self._crd_defs.pop(name, [])
        for d in old_defs:
            self.unregister(d.key)
        if new is None:
            # Deleting a CRD deletes its objects (their finalizers are not waited for).
            for key in {d.storage_key for d in old_defs}:
                storage_def = ResourceDef(key[0], key[1], key[2], "", custom=True)
                for obj in self._live(key):
                    final = copy.deepcopy(obj)
                    final["metadata"]["resourceVersion"] = self._next_rv()
                    self._remove(storage_def, final)
            return
        defs = list(defs_from_crd(new))
        for d in defs:
            self.register(d)
        self._crd_defs[name] = defs

    def _collect_dependents(self, uid: str | None) -> None:
        """Background garbage collection: delete dependents whose owners are all gone."""
        if not uid:
            return
        dependents = []
        for (res, ns, name), obj in list(self._objects.items()):
            if obj.deleted:
                continue
            refs = obj.raw["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs) and not any(
                    r.get("uid") in self._uids for r in refs):
                dependents.append(((res.group or "", res.version or "", res.plural or ""),
                                   ns, name))
        for key, ns, name in dependents:
            defn = self._storage_defs.get(key)
            current = None if defn is None else self._current(defn, ns, name)
            if defn is not None and current is not None:
                self._delete(defn, current, {}, dry_run=False)

    def _reconcile_workload(self, defn: ResourceDef, obj: Obj) -> None:
        replicas = int((obj.get("spec") or {}).get("replicas") or 0)
        status = {
            "observedGeneration": obj["metadata"].get("generation", 1), "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True",
                            "reason": "MinimumReplicasAvailable"}],
        }
        if obj.get("status") != status:
            self._update(defn, obj, {"status": status}, sub="status")

    # ---------------------------------------------------------------- list & watch

    def _table(self, defn: ResourceDef, body: Obj) -> Obj:
        """A meta.k8s.io/v1 Table (kubectl's human-readable ``get``): Name, then the CRD's
        additionalPrinterColumns (simple JSONPaths only), else Age."""
        columns: list[Obj] = [{"name": "Name", "type": "string", "format": "name",
                               "description": "Name of the object", "priority": 0}]
        specs = list(defn.printer_columns) or [
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        for spec in specs:
            columns.append({"name": spec["name"], "type": spec.get("type", "string"),
                            "format": spec.get("format", ""),
                            "description": spec.get("description", ""),
                            "priority": spec.get("priority", 0)})
        items = body.get("items", [body])
        def cell(obj: Obj, spec: Mapping[str, Any]) -> Any:
            value = json_path(obj, spec.get("jsonPath", ""))
            return _age(value) if spec.get("type") == "date" and value else value

        rows = [{"cells": [obj["metadata"]["name"], *(cell(obj, spec) for spec in specs)],
                 "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": obj["metadata"]}} for obj in items]
        meta = {k: v for k, v in (body.get("metadata") or {}).items()
                if k in ("resourceVersion", "continue", "remainingItemCount")}
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                "columnDefinitions": columns, "rows": rows}

    def _list(self, defn: ResourceDef, ns: str | None, params: Mapping[str, str]) -> Obj:
        matches = self._matcher(params)
        items = [o for o in self._live(defn.storage_key, ns) if matches(o)]
        meta: Obj = {"resourceVersion": str(self._rv)}
        start = params.get("continue")
        if start:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(start.encode())))
            except ValueError as e:
                raise ApiError(400, "BadRequest", "continue key is not valid") from e
            items = [o for o in items if _sort_key(o) > after]
        limit = int(params.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
            token = json.dumps(list(_sort_key(items[-1]))).encode()
            meta["continue"] = base64.urlsafe_b64encode(token).decode()
        return {"kind": f"{defn.kind}List", "apiVersion": defn.api_version, "metadata": meta,
                "items": [self._present(defn, o) for o in items]}

    def _matcher(self, params: Mapping[str, str]) -> Any:
        try:
            labels = label_selector(params.get("labelSelector"))
            fields = field_selector(params.get("fieldSelector"))
        except SelectorError as e:
            raise _bad_request(str(e)) from e
        return lambda obj: labels(obj) and fields(obj)

    async def _watch(self, request: rendering.Request,
                     defn: ResourceDef) -> aiohttp.web.StreamResponse:
        params = request.params
        ns = request.namespace
        selected = self._matcher(params)

        def matches(obj: Obj) -> bool:
            named = request.name is None or obj["metadata"]["name"] == request.name
            return named and selected(obj)

        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        bookmarks = params.get("allowWatchBookmarks") == "true"
        since = params.get("resourceVersion") or ""
        initial = params.get("sendInitialEvents") == "true"

        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        assert request._raw_request is not None  # kmock 0.8: the aiohttp request is private
        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)

        async def send(event: Obj) -> None:
            await response.write(json.dumps(event).encode() + b"\n")

        def bookmark(annotations: Mapping[str, str] | None = None) -> Obj:
            meta: Obj = {"resourceVersion": str(self._rv)}
            if annotations:
                meta["annotations"] = dict(annotations)
            return {"type": "BOOKMARK", "object": {"kind": defn.kind,
                                                   "apiVersion": defn.api_version,
                                                   "metadata": meta}}

        self._watchers[defn.storage_key] += 1
        try:
            if since in ("", "0") or initial:
                pos = self._log_base + len(self._log)
                for obj in [o for o in self._live(defn.storage_key, ns) if matches(o)]:
                    await send({"type": "ADDED", "object": self._present(defn, obj)})
                if initial and bookmarks:
                    await send(bookmark({"k8s.io/initial-events-end": "true"}))
            else:
                try:
                    rv = int(since)
                except ValueError:
                    rv = -1
                if rv < self._trimmed_rv:
                    await send(_expired(since))
                    return response
                pos = self._log_base + bisect.bisect_right(self._log, rv, key=lambda e: e.rv)
            last_sent = loop.time()
            while not self._closing:
                if pos < self._log_base:
                    await send(_expired(since))
                    break
                while pos < self._log_base + len(self._log):
                    event = self._log[pos - self._log_base]
                    pos += 1
                    if (event.storage_key == defn.storage_key
                            and (ns is None or event.namespace == ns) and matches(event.obj)):
                        await send({"type": event.type,
                                    "object": self._present(defn, event.obj)})
                        last_sent = loop.time()
                now = loop.time()
                if deadline is not None and now >= deadline:
                    break
                if bookmarks and now - last_sent >= self.bookmark_interval:
                    await send(bookmark())
                    last_sent = now
                waits = [self.bookmark_interval if bookmarks else 3600.0]
                if deadline is not None:
                    waits.append(deadline - now)
                changed = self._changed
                if pos >= self._log_base + len(self._log) and not self._closing:
                    # On timeout, a deadline or a bookmark is due; the loop checks both.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), timeout=max(0.0, min(waits)))
            await response.write_eof()
        except ConnectionError:
            return response  # the client went away
        finally:
            self._watchers[defn.storage_key] -= 1
        return response

    def close_watches(self) -> None:
        """End all watch streams (before shutting the server down, so it need not wait)."""
        self._closing = True
        self._notify()

    # ---------------------------------------------------------------- test-side helpers
    # Synchronous: call them before serving, or in the server's loop (`KubeAPI.call`).

    @property
    def resource_version(self) -> int:
        return self._rv

    def watchers(self, resource: str | Key) -> int:
        """How many watch streams are open on a resource (e.g. to know kopf is watching)."""
        return self._watchers[self._lookup(resource).storage_key]

    def get_object(self, resource: str | Key, namespace: str | None, name: str) -> Obj | None:
        """The current object, or None (``resource`` as ``'apps/v1/deployments'``)."""
        defn = self._lookup(resource)
        obj = self._current(defn, namespace, name)
        return None if obj is None else copy.deepcopy(self._present(defn, obj))

    def list_objects(self, resource: str | Key, namespace: str | None = None) -> list[Obj]:
        defn = self._lookup(resource)
        return [copy.deepcopy(self._present(defn, o)) for o in self._live(defn.storage_key,
                                                                           namespace)]

    def create_object(self, resource: str | Key, body: Mapping[str, Any],
                      namespace: str | None = None) -> Obj:
        """Create as a POST would (validation and watch events included); namespaced objects
        go to ``namespace``, else their metadata.namespace, else "default"."""
        defn = self._lookup(resource)
        if defn.namespaced and namespace is None:
            namespace = (body.get("metadata") or {}).get("namespace") or "default"
        return copy.deepcopy(self._create(defn, namespace, dict(body), dry_run=False))

    def patch_object(self, resource: str | Key, namespace: str | None, name: str,
                     patch: Any, *, subresource: str | None = None,
                     content_type: str = patches.MERGE_PATCH) -> Obj:
        """Patch as a PATCH would (``subresource='status'`` for the status)."""
        defn = self._lookup(resource)
        current = self._require(defn, self._current(defn, namespace, name), name)
        new = self._patched(defn, current, patch, content_type)
        return copy.deepcopy(self._update(defn, current, new, sub=subresource))

    def delete_object(self, resource: str | Key, namespace: str | None, name: str) -> Obj:
        defn = self._lookup(resource)
        current = self._require(defn, self._current(defn, namespace, name), name)
        return copy.deepcopy(self._delete(defn, current, {}, dry_run=False)[1])


def _guess_action(method: str, path: _Path, query: Mapping[str, str]) -> kmock.action | None:
    """kmock's action for its reaction filters (``emu['list', ...]``); PUT counts as UPDATE."""
    if path.group is None or path.plural is None:
        return None
    if method == "GET":
        if _is_watch(query):
            return kmock.action.WATCH
        return kmock.action.FETCH if path.name else kmock.action.LIST
    if method == "POST" and not path.name:
        return kmock.action.CREATE
    if method in ("PATCH", "PUT") and path.name:
        return kmock.action.UPDATE
    if method == "DELETE" and path.name:
        return kmock.action.DELETE
    return None


def _delete_options(params: Mapping[str, str], body: Any) -> Obj:
    """DeleteOptions from the body, or from query parameters (the kubernetes client's way)."""
    options: Obj = {k: params[k] for k in ("propagationPolicy", "gracePeriodSeconds")
                    if k in params}
    if "orphanDependents" in params:
        options["orphanDependents"] = params["orphanDependents"].lower() == "true"
    if isinstance(body, dict):
        options.update(body)
    return options


def _is_watch(params: Mapping[str, str]) -> bool:
    return str(params.get("watch", "")).lower() in ("true", "1")


def _expired(since: str) -> Obj:
    return {"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {since}", "reason": "Expired", "code": 410}}


def _rv_of(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        rv = data["metadata"].get("resourceVersion")
        return str(rv) if rv else None
    return None


def _spec_part(defn: ResourceDef, obj: Obj) -> Obj:
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if defn.status else set())
    return {k: v for k, v in obj.items() if k not in skip}


def _sort_key(obj: Obj) -> tuple[str, str]:
    return (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


def _age(timestamp: str) -> str:
    """A timestamp as the server renders date columns: "42s", "5m", "3h", "2d"."""
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


_JSONPATH_TOKEN = re.compile(
    r"""\.([\w-]+)|\[(\d+)\]|\[\?\(@\.([\w.-]+)\s*==\s*["']([^"']*)["']\)\]""")


def json_path(obj: Any, path: str) -> Any:
    """The value at a printer column's JSONPath: ``.a.b``, ``.a[0]``, ``.a[?(@.k=="v")].b``
    (anything else: None, which kubectl shows as <none>)."""
    pos, value = 0, obj
    path = path.strip().removeprefix("{").removesuffix("}").removeprefix("$")
    while pos < len(path):
        m = _JSONPATH_TOKEN.match(path, pos)
        if m is None:
            return None
        field, index, key, expected = m.groups()
        if field is not None:
            value = value.get(field) if isinstance(value, Mapping) else None
        elif index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(
                value) else None
        else:
            value = next((item for item in value or [] if isinstance(item, Mapping)
                          and str(_get_path(item, key)) == expected), None)
        pos = m.end()
    return value


def _get_path(obj: Any, path: str) -> Any:
    for part in path.lstrip(".").split("."):
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def _set_path(obj: Obj, path: str, value: Any) -> None:
    parts = path.lstrip(".").split(".")
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value
