"""The suite collects when a foreign top-level `tests` package is importable (laion-clap and
descript-audio-codec install one into site-packages), and no test module imports another one."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_test_module_imports_another():
    bad = [
        f"{p.name}: import {m}"
        for p in sorted(TESTS.glob("*.py"))
        for m in _imported_modules(p)
        if m == "tests" or m.startswith("tests.") or m.split(".")[0].startswith("test_")
    ]
    assert not bad, f"share helpers through tests/helpers_m2l2.py or conftest.py fixtures: {bad}"


@pytest.mark.slow
def test_suite_collects_with_a_foreign_tests_package(tmp_path):
    fake = tmp_path / "site" / "tests"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('"""A stand-in for the `tests` package laion-clap installs."""\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    probe = subprocess.run(
        [sys.executable, "-c", "import tests; print(tests.__file__)"], cwd=ROOT, env=env,
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == str(fake / "__init__.py"), "the fake package must shadow tests/"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(TESTS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
    assert done.returncode == 0, tail
    assert "error" not in done.stdout.splitlines()[-1].lower(), tail
