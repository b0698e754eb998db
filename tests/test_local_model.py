"""The built-in local model (needs the [local] extra; slow: loads a 1.1 GB GGUF on the CPU)."""
from __future__ import annotations

import hashlib

import pytest

from rlm_cli.backends import local as local_model

pytestmark = pytest.mark.slow


def test_assemble_verifies_hash_and_is_atomic(tmp_path):
    parts = []
    for i, data in enumerate([b"abc" * 1000, b"def" * 7]):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(data)
        parts.append(p)
    whole = b"abc" * 1000 + b"def" * 7
    dest = tmp_path / "m.gguf"
    local_model.assemble(parts, dest, sha256=hashlib.sha256(whole).hexdigest(), size=len(whole))
    assert dest.read_bytes() == whole
    bad = tmp_path / "bad.gguf"
    with pytest.raises(local_model.BackendError, match="corrupt"):
        local_model.assemble(parts, bad, sha256="0" * 64, size=len(whole))
    assert not bad.exists() and not list(tmp_path.glob(".*tmp"))


@pytest.mark.skipif(not local_model.available(), reason="pip install 'rlm-cli[local]'")
def test_local_model_finds_a_needle_in_50kb(cli, tmp_path):
    from bench.bench_backends import NEEDLE_A, NEEDLE_Q, needle_text

    doc = tmp_path / "doc.txt"
    doc.write_text(needle_text(50_000))
    r = cli(["ask", doc, NEEDLE_Q, "-p", "local", "--json", "--timeout", "900"])
    assert r.exit_code == 0, r.stderr
    assert NEEDLE_A in r.json()["answer"]
