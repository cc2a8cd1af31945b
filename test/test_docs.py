"""The documentation's links resolve: every relative link of README.md, docs/*.md, the model card and
ros_interfaces/README.md names an existing file, and its #anchor an existing heading of that file;
every ``docs/*.md`` the code names exists."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO
from test_structure import PACKAGES

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
            REPO / "dasiamrpn_core" / "weights" / "MODEL_CARD.md", REPO / "ros_interfaces" / "README.md"]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    found: set[str] = set()
    for title in HEADING.findall(FENCE.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")
        unique, n = slug, 0
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text()))
    broken = []
    for target in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{path.relative_to(root)}: {target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{path.relative_to(root)}: {target} (no such heading)")
    return broken


def test_every_relative_link_of_the_documentation_resolves():
    assert [p for p in documents() if not p.exists()] == []
    assert [b for p in documents() for b in broken_links(p)] == []


def test_every_docs_page_the_code_names_exists():
    named = {(p.relative_to(REPO), m) for folder in PACKAGES.values() for p in (REPO / folder).rglob("*.py")
             for m in re.findall(r"\b(docs/[\w.-]+\.md)\b", p.read_text())}
    named |= {(p.relative_to(REPO), m) for p in (REPO / "test").glob("*.py") if p.name != "test_docs.py"
              for m in re.findall(r"\b(docs/[\w.-]+\.md)\b", p.read_text())}
    assert sorted(str(path) for path, m in named if not (REPO / m).exists()) == []


def test_the_link_checker_finds_a_broken_file_and_a_broken_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with punctuation!\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md) [ok](other.md#a-code-heading-with-punctuation) [ok](other.md#twice-1)\n"
                    "[ok](#local) [web](https://example.org/x.md) `[code](missing.md)`\n\n# Local\n\n"
                    "[bad](missing.md) [bad](other.md#nowhere)\n```\n[in a block](missing_too.md)\n```\n")
    assert broken_links(page, tmp_path) == ["page.md: missing.md (no such file)",
                                            "page.md: other.md#nowhere (no such heading)"]
