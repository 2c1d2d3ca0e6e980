"""A small, faithful ``kustomize build`` for the subset deploy/k8s uses, in Python.

The tests render deploy/k8s with it where no kustomize binary is installed (``kubectl
kustomize`` agrees with it on deploy/k8s; a test compares them when kubectl is there).
Supported: ``resources`` (YAML files, or folders with their own kustomization.yaml),
``configMapGenerator`` (``files`` and ``literals``; binary files go to ``binaryData``) with
``generatorOptions.disableNameSuffixHash: true``, ``images`` and ``replicas``. Anything else
raises :class:`Unsupported` rather than being rendered differently from kustomize.

``python -m deploy.kustomize deploy/k8s/overlays/replicated-gateways`` prints the YAML.
"""

from __future__ import annotations

import base64
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import yaml

__all__ = ["Unsupported", "build", "main"]

Obj = dict[str, Any]

_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "configMapGenerator",
    "generatorOptions",
    "images",
    "replicas",
}
_SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}


class Unsupported(ValueError):
    """The kustomization uses something outside the subset (or breaks a kustomize rule)."""


def build(root: pathlib.Path | str) -> list[Obj]:
    """The objects ``kustomize build root`` outputs (in resource order, not kustomize's)."""
    root = pathlib.Path(root).resolve()
    k = yaml.safe_load((root / "kustomization.yaml").read_text())
    unknown = set(k) - _KEYS
    if unknown:
        raise Unsupported(f"{root}: unsupported kustomization fields {sorted(unknown)}")
    objs: list[Obj] = []
    for entry in k.get("resources", []):
        path = (root / entry).resolve()
        if path.is_dir():
            objs.extend(build(path))
        else:
            _inside(root, path)
            objs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    objs.extend(_generate(root, k))
    for image in k.get("images", []):
        for container in _containers(objs):
            _set_image(container, image)
    for rep in k.get("replicas", []):
        targets = [
            o for o in objs if o["kind"] in _SCALABLE and o["metadata"]["name"] == rep["name"]
        ]
        if not targets:
            raise Unsupported(f"replicas: no workload named {rep['name']!r}")
        for o in targets:
            o["spec"]["replicas"] = rep["count"]
    seen: set[tuple[str, str]] = set()
    for o in objs:
        key = (o["kind"], o["metadata"]["name"])
        if key in seen:
            raise Unsupported(f"{root}: {key} defined twice")
        seen.add(key)
    return objs


def _inside(root: pathlib.Path, path: pathlib.Path) -> None:
    # kustomize's default load restrictor: files only from within the kustomization's folder.
    if not path.is_relative_to(root):
        raise Unsupported(f"{path} is outside {root} (kustomize's load restrictor refuses it)")


def _generate(root: pathlib.Path, k: Obj) -> Iterator[Obj]:
    gens = k.get("configMapGenerator", [])
    if gens and not k.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise Unsupported("configMapGenerator without disableNameSuffixHash (name hashes)")
    for gen in gens:
        unknown = set(gen) - {"name", "files", "literals"}
        if unknown:
            raise Unsupported(f"configMapGenerator fields {sorted(unknown)}")
        data: dict[str, str] = {}
        binary: dict[str, str] = {}
        for literal in gen.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        for spec in gen.get("files", []):
            key, _, rel = spec.rpartition("=")
            path = (root / rel).resolve()
            _inside(root, path)
            raw = path.read_bytes()
            try:
                data[key or path.name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                binary[key or path.name] = base64.b64encode(raw).decode()
        cm: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}}
        if data:
            cm["data"] = data
        if binary:
            cm["binaryData"] = binary
        yield cm


def _containers(objs: list[Obj]) -> Iterator[Obj]:
    for o in objs:
        pod = o.get("spec", {}).get("template", {}).get("spec", {})
        yield from pod.get("initContainers", [])
        yield from pod.get("containers", [])


def _set_image(container: Obj, image: Obj) -> None:
    ref = container["image"]
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if name != image["name"]:
        return
    new = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{new}@{image['digest']}"
    elif "newTag" in image:
        container["image"] = f"{new}:{image['newTag']}"
    else:
        container["image"] = ref.replace(name, new, 1)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m deploy.kustomize KUSTOMIZATION_DIR")
    sys.stdout.write(yaml.safe_dump_all(build(args[0]), sort_keys=False))


if __name__ == "__main__":
    main()
