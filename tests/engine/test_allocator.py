"""The engine's CPU allocator setting: freed memory stays with the process for the next iteration."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import sys
import torch
from genfer.engine.allocator import keep_freed_memory

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

applied = keep_freed_memory() if sys.argv[1] == "keep" else False
before = rss_mib()
x = torch.ones(64, 2**20)  # 256 MiB, written so its pages are resident
del x
print(applied, rss_mib() - before)
"""


def _freed_mib_kept(mode: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    applied, kept = out.stdout.split()
    return applied == "True", float(kept)


@pytest.mark.skipif(platform.system() != "Linux", reason="a glibc setting")
def test_freed_memory_is_kept_only_when_asked():
    applied, kept = _freed_mib_kept("keep")
    assert applied
    assert kept > 200  # the 256 MiB block stays mapped for reuse
    applied, kept = _freed_mib_kept("system")
    assert not applied
    assert kept < 50  # glibc's default hands a block this big back to the kernel


def test_cpu_training_applies_it(monkeypatch, tmp_path):
    from genfer.core.config import make_config
    from genfer.engine import trainer as T

    calls = []
    monkeypatch.setattr(T, "keep_freed_memory", lambda: calls.append(1) or True)
    for keep in (True, False):
        cfg = make_config("tdgan", "tiny", [f"train.out={tmp_path}", f"train.name=k{keep}", "train.max_steps=1",
                                            "train.device=cpu", f"train.keep_freed_memory={str(keep).lower()}",
                                            "train.progress=false"])
        T.Trainer(cfg)
    assert calls == [1]
