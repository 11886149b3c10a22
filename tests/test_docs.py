"""The README's promises stay true: the two set-up commands, CI running the same test command,
and a keyboard table that matches the action registry."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def setup_commands() -> list[str]:
    lines = README.splitlines()
    assert lines[0].startswith("# Signoff")
    start = lines.index("```bash")
    end = lines.index("```", start + 1)
    assert start <= 3, "the set-up commands must open the README"
    return [line for line in lines[start + 1 : end] if line.strip()]


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    demo, tests = setup_commands()
    assert demo.endswith("signoff demo")
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r'^TEST_CMD="(.+)"$', ci, re.MULTILINE)
    assert match, ".ci/run must define TEST_CMD"
    assert match.group(1) == setup_commands()[1]


def test_keyboard_table_matches_the_action_registry() -> None:
    from app.ui.actions import keyboard_map

    section = README.split("## Keyboard", 1)[1]
    rows = re.findall(r"^\| (.+?) \| (.+?) \|$", section, re.MULTILINE)
    table = [row for row in rows if row != ("keys", "action") and not set(row[0]) <= {"-", "|"}]
    assert table[: len(keyboard_map())] == keyboard_map()


def test_screenshots_in_the_readme_exist() -> None:
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / image).is_file(), image
