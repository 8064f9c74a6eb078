"""Generated blocks in Markdown files: text between two markers that only code writes.

Why: a number quoted in README.md, docs/ or a result folder's README must come from a result file
(project rule "no stale number"). Each such passage is a block

    <!-- generated:NAME start -->
    ...written by code...
    <!-- generated:NAME end -->

that :func:`replace_block` rewrites and that a test compares with what the code would write now.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


class BlockError(ValueError):
    """A file lacks the markers of a generated block, or has them more than once or out of order."""


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- generated:{name} start -->", f"<!-- generated:{name} end -->"


def read_block(text: str, name: str) -> str:
    """The current content of block ``name`` in ``text`` (without the markers and surrounding newlines).

    Raises
    ------
    BlockError
        The markers are missing, repeated or in the wrong order.
    """
    start, end = _markers(name)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise BlockError(f"expected exactly one '{start}' before one '{end}'")
    return text[text.index(start) + len(start):text.index(end)].strip("\n")


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with block ``name`` replaced by ``content`` (markers kept).

    Raises
    ------
    BlockError
        The markers are missing, repeated or in the wrong order.
    """
    read_block(text, name)
    start, end = _markers(name)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    return pattern.sub(lambda _: f"{start}\n{content.strip()}\n{end}", text, count=1)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
