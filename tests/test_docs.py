"""The front door stays short and every link in the documentation leads somewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "ENCODING.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_fits_in_twelve_thousand_characters():
    assert len((ROOT / "README.md").read_text(encoding="utf-8")) <= 12_000


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = page if not path else (page.parent / path).resolve()
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md":
            headings = re.findall(r"(?m)^#+ (.+)$", resolved.read_text(encoding="utf-8"))
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            if anchor not in slugs:
                broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_the_readme_layout_names_every_top_level_folder():
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git ls-files is not available here: the tracked folders are unknown")
    folders = {line.split("/", 1)[0] for line in listed.stdout.splitlines() if "/" in line}
    layout = (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = sorted(f for f in folders if f"{f}/" not in layout)
    assert not missing, f"folders missing from the README's Layout: {missing}"
