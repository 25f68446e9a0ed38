"""The README shows every command's --help exactly as the program prints it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ingest.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def help_text(*command: str) -> str:
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="photo-archive", terminal_width=88)
    assert result.exit_code == 0
    return result.stdout


def help_section() -> str:
    """The Markdown the README must contain between its help markers."""
    parts = []
    for name in sorted(cli.commands):
        parts.append(f"### photo-archive {name}\n\n```\n{help_text(name)}```\n")
    return "\n".join(parts)


def test_readme_has_every_commands_help() -> None:
    text = README.read_text(encoding="utf-8")
    assert help_section() in text, "README is out of date: run scripts/update-readme-help"


def test_readme_commands_are_the_two_make_targets() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().endswith("make test")
