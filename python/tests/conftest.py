# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared set-up of rvm's Python tests: where the repository, ../shared and the golden data are."""
import gzip
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RVM_SHARED_DIR", ROOT.parent / "shared"))
SUBSET = ROOT / "tests" / "data" / "golden"


def golden_cases():
    """Every golden case of ../shared, or the subset shipped in tests/data without it."""
    root = SHARED / "golden"
    if root.is_dir():
        return sorted(p for p in root.iterdir() if (p / "meta.json").is_file())
    return sorted(p for p in SUBSET.iterdir() if (p / "meta.json").is_file())


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Finds (or decompresses) the checkpoint a golden case names; None when absent."""
    tmp = tmp_path_factory.mktemp("checkpoints")

    def find(name):
        models = SHARED / "models"
        if (models / name).exists():
            return models / name
        gz = models / (name + ".gz")
        if gz.exists():
            out = tmp / name
            if not out.exists():
                with gzip.open(gz, "rb") as f, open(out, "wb") as o:
                    shutil.copyfileobj(f, o)
            return out
        return None

    return find
