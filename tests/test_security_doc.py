"""docs/SECURITY.md says only what a test shows.

The convention (written at the top of the document too): in every section (`## ...`) but *Limits*, which says
what is not protected, and a section still holding only its placeholder line, every line of text is part of a
bullet (`- ...`, continued on lines indented by two spaces, or a `###` heading), and every bullet
ends with one or more test node ids in backticks (`tests/path/test_file.py::test_name`, optionally
`::Class::test_name` and a `[parameter id]`). Every node id cited anywhere in the document must name a test
file that exists and a test function in it (read with `ast`, no collection); a `[parameter id]` must belong to
a parametrized test and be written in its file.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "SECURITY.md"
#: The section without claims: what is not protected.
LIMITS = "Limits"
#: Sections that other work fills in: until then they hold only the placeholder line, then claims like the rest.
LATER = ("Encryption at rest and keys", "Failures and recovery")
PLACEHOLDER = "(to be completed with their tests)"
NODE = re.compile(r"`(tests/[^`\s]+?\.py(?:::[A-Za-z_][A-Za-z0-9_]*)+(?:\[[^`\]]+\])?)`")
#: A bullet's last characters: a cited node id, maybe closed by a bracket and a full stop.
ENDS_CITED = re.compile(NODE.pattern + r"\)?\.?$")


def sections() -> dict[str, list[str]]:
    """The document's `##` sections by title, each its lines (the text before the first is "")."""
    found: dict[str, list[str]] = {"": []}
    title = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            assert title not in found, f"section {title!r} appears twice"
            found[title] = []
        else:
            found[title].append(line)
    return found


def bullets(title: str, lines: list[str]) -> list[str]:
    """The section's bullets, continuation lines joined; any other text is a mistake."""
    items: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("### "):
            continue
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        else:
            raise AssertionError(f"{title!r}, line {number} of the section is not part of a bullet: {line!r}")
    return items


@cache
def definitions(path: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Test functions of a file by their `Class::name` (or `name`) path."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + node.name] = node
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}::")

    visit(tree.body, "")
    return found


def problem_of(node_id: str) -> str | None:
    """What is wrong with a cited node id, or None."""
    path_text, _, rest = node_id.partition("::")
    rest, _, parameter = rest.partition("[")
    path = ROOT / path_text
    if not path.is_file():
        return f"{node_id}: no file {path_text}"
    function = definitions(path).get(rest)
    if function is None or not function.name.startswith("test"):
        return f"{node_id}: no test {rest} in {path_text}"
    if parameter:
        decorators = [ast.unparse(d) for d in function.decorator_list]
        if not any("parametrize" in d for d in decorators):
            return f"{node_id}: {rest} is not parametrized"
        wanted = parameter.rstrip("]")
        if f'"{wanted}"' not in path.read_text(encoding="utf-8"):
            return f"{node_id}: no parameter id {wanted!r} written in {path_text}"
    return None


def cited() -> list[str]:
    return NODE.findall(DOC.read_text(encoding="utf-8"))


def test_every_cited_test_exists() -> None:
    ids = cited()
    assert len(set(ids)) >= 50, "the document cites the tests behind its claims"
    problems = [p for node_id in sorted(set(ids)) if (p := problem_of(node_id)) is not None]
    assert not problems, "\n".join(problems)


def placeholder_only(lines: list[str]) -> bool:
    return [line for line in lines if line.strip()] == [PLACEHOLDER]


def test_every_claim_cites_a_test() -> None:
    found = sections()
    assert {LIMITS, *LATER} <= set(found), "the document has its Limits and the two sections others complete"
    claims = 0
    for title, lines in found.items():
        if title in ("", LIMITS) or (title in LATER and placeholder_only(lines)):
            continue
        items = bullets(title, lines)
        assert items, f"{title!r} has no claims"
        for item in items:
            assert ENDS_CITED.search(item), f"{title!r}: a claim that ends citing no test: {item!r}"
        claims += len(items)
    assert claims >= 40
    assert any(line.startswith("- ") for line in found[LIMITS]), "Limits lists what is not protected"


@pytest.mark.parametrize("title", LATER)
def test_a_section_other_work_completes_is_its_placeholder_or_claims(title: str) -> None:
    lines = sections()[title]
    assert placeholder_only(lines) or (PLACEHOLDER not in "\n".join(lines) and bullets(title, lines))


def test_the_checks_find_what_is_wrong() -> None:
    assert problem_of("tests/test_security_doc.py::test_every_cited_test_exists") is None
    assert problem_of("tests/nowhere.py::test_x") is not None
    assert problem_of("tests/test_security_doc.py::test_that_is_not_here") is not None
    assert problem_of("tests/test_security_doc.py::sections") is not None  # not a test
    assert problem_of("tests/test_security_doc.py::test_every_cited_test_exists[x]") is not None
    parametrized = (
        "tests/test_security_doc.py::test_a_section_other_work_completes_is_its_placeholder_or_claims"
    )
    assert problem_of(parametrized + "[Failures and recovery]") is None
    assert problem_of(parametrized + "[No such section]") is not None
    assert ENDS_CITED.search("A claim (`tests/a.py::test_b`, `tests/c.py::K::test_d[e f]`).")
    assert not ENDS_CITED.search(
        "A claim with `tests/a.py::test_b` cited in the middle of it, not at its end."
    )
    with pytest.raises(AssertionError, match="not part of a bullet"):
        bullets("Some claims", ["- a claim `tests/a.py::test_b`", "", "Prose that cites nothing."])
