"""Compile every .proto under proto/ into Python stubs (with .pyi) and Envoy's descriptor set.

Usage: python proto/tools/compile.py OUTDIR   (``make proto`` calls it with ``gen``)
"""

from __future__ import annotations

import pathlib
import shutil
import sys

import google.api
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(outdir: str) -> None:
    out = pathlib.Path(outdir).resolve()
    shutil.rmtree(out / "csms", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.proto"))
    googleapis = pathlib.Path(google.api.__path__[0]).parents[1]
    wkt = pathlib.Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{googleapis}",
        f"-I{wkt}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={out / 'descriptor.pb'}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gen")
