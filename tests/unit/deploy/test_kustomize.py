"""deploy/kustomize.py: the kustomize subset, and kubectl's kustomize agreeing on deploy/k8s."""

from __future__ import annotations

import base64
import pathlib
import shutil
import subprocess

import pytest
import yaml

from deploy import kustomize

ROOT = pathlib.Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
VARIANTS = ["base", "overlays/replicated-gateways"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: init, image: "app:1"}]
      containers:
        - {name: a, image: app}
        - {name: b, image: "other:2"}
"""


def _write(folder: pathlib.Path, files: dict[str, str | bytes]) -> pathlib.Path:
    for name, body in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body)
    return folder


def test_resources_generator_images_replicas(tmp_path: pathlib.Path) -> None:
    """An overlay over a base: files, a text and a binary ConfigMap entry, images, replicas."""
    _write(
        tmp_path / "base",
        {
            "web.yaml": DEPLOYMENT + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
            "conf/app.yaml": "a: 1\n",
            "blob.bin": b"\xff\x00\x01",
            "kustomization.yaml": """
resources: [web.yaml]
configMapGenerator:
  - name: conf
    files: [conf/app.yaml, renamed=blob.bin]
    literals: [MODE=x=y]
generatorOptions: {disableNameSuffixHash: true}
images:
  - {name: app, newName: registry.local:5000/app, newTag: "7"}
""",
        },
    )
    overlay = _write(
        tmp_path / "overlay",
        {"kustomization.yaml": "resources: [../base]\nreplicas: [{name: web, count: 3}]\n"},
    )
    objs = {(o["kind"], o["metadata"]["name"]): o for o in kustomize.build(overlay)}
    assert set(objs) == {("Deployment", "web"), ("Service", "web"), ("ConfigMap", "conf")}
    conf = objs["ConfigMap", "conf"]
    assert conf["data"] == {"app.yaml": "a: 1\n", "MODE": "x=y"}
    assert base64.b64decode(conf["binaryData"]["renamed"]) == b"\xff\x00\x01"
    pod = objs["Deployment", "web"]["spec"]
    assert pod["replicas"] == 3
    images = [c["image"] for c in pod["template"]["spec"]["initContainers"]]
    images += [c["image"] for c in pod["template"]["spec"]["containers"]]
    assert images == ["registry.local:5000/app:7", "registry.local:5000/app:7", "other:2"]


@pytest.mark.parametrize(
    "kustomization",
    [
        "namePrefix: x-\n",  # outside the subset
        "configMapGenerator: [{name: c, literals: [a=b]}]\n",  # would need kustomize's hash
        "resources: [../elsewhere.yaml]\n",  # the load restrictor
        "replicas: [{name: nothing, count: 2}]\n",
    ],
)
def test_refuses_what_it_would_render_differently(
    tmp_path: pathlib.Path, kustomization: str
) -> None:
    """Anything beyond the subset raises instead of rendering something kustomize would not."""
    (tmp_path / "elsewhere.yaml").write_text("kind: ConfigMap\n")
    _write(tmp_path / "k", {"kustomization.yaml": kustomization})
    with pytest.raises(kustomize.Unsupported):
        kustomize.build(tmp_path / "k")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl to compare with")
@pytest.mark.parametrize("variant", VARIANTS)
def test_agrees_with_kubectl_kustomize(variant: str) -> None:
    """The same objects as kubectl's built-in kustomize on deploy/k8s (order aside)."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / variant)], check=True, capture_output=True, text=True
    ).stdout
    theirs = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(out) if o}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in kustomize.build(K8S / variant)}
    assert ours == theirs


def test_main_prints_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m deploy.kustomize DIR`` prints every object."""
    kustomize.main([str(K8S / "base")])
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert len(docs) == len(kustomize.build(K8S / "base"))
