"""Generated blocks in Markdown files: text between two markers that only code writes.

Why: a number quoted in README.md, docs/ or a result folder's README must come from a result file
(project rule "no stale number"). Each such passage is a block

    <!-- generated:NAME start -->
    ...written by code...
    <!-- generated:NAME end -->

that :func:`replace_block` rewrites and that a test compares with what the code would write now. The
functions taking ``start``/``end`` serve any pair of markers (experiments/README.md's results block,
written by :mod:`bantar_sim.studies.experiment.publish`, has its own).
"""
from __future__ import annotations


class BlockError(ValueError):
    """A file lacks the markers of a generated block, or has them more than once or out of order."""


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of generated block ``name``."""
    return f"<!-- generated:{name} start -->", f"<!-- generated:{name} end -->"


def find_between(text: str, start: str, end: str) -> str | None:
    """The text between ``start`` and ``end`` (without surrounding newlines); None when neither marker is there.

    Raises
    ------
    BlockError
        Only one marker, a marker repeated, or the end before the start.
    """
    if start not in text and end not in text:
        return None
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise BlockError(f"expected exactly one '{start}' before one '{end}'")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def replace_between(text: str, start: str, end: str, content: str) -> str:
    """``text`` with what lies between ``start`` and ``end`` replaced by ``content`` (markers kept).

    Raises
    ------
    BlockError
        The markers are missing, repeated or in the wrong order.
    """
    if find_between(text, start, end) is None:
        raise BlockError(f"expected exactly one '{start}' before one '{end}'")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{content}\n{end}{rest.split(end, 1)[1]}"


def read_block(text: str, name: str) -> str:
    """The current content of block ``name`` in ``text`` (without the markers and surrounding newlines).

    Raises
    ------
    BlockError
        The markers are missing, repeated or in the wrong order.
    """
    start, end = markers(name)
    found = find_between(text, start, end)
    if found is None:
        raise BlockError(f"expected exactly one '{start}' before one '{end}'")
    return found


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with block ``name`` replaced by ``content`` (markers kept).

    Raises
    ------
    BlockError
        The markers are missing, repeated or in the wrong order.
    """
    return replace_between(text, *markers(name), content.strip())
