"""Issue 8 §5: how much smaller the web layer is than when ARCHITECTURE-REVIEW.md measured it.

    .venv/bin/python bench/web_size.py

The review counted ``dostup/web/ui`` + ``dostup/web/api`` at commit 29b12bc: 2,476 lines.  This
counts the same two folders then and now, without the modules of what was built after the review
(second factors, passkeys, the passcode, social sign-in, the operator search, the documents API,
the hot calls' plain routes, the import of a previous cabinet's customers, the levels of assurance with
their letters, the bank and the e-signature that confirm identity, the support requests), and prints two measures for each: all lines (``wc -l``, the review's
count) and lines of code as cloc counts them (no blank lines, comments or docstrings).
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tarfile
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REVIEWED = "29b12bc"  # the commit ARCHITECTURE-REVIEW.md read
FOLDERS = ("dostup/web/ui", "dostup/web/api")
# built after the review: not in the comparison
LATER = re.compile(r"second_factor|passkey|passcode|social|operator|documents|plain|users_import|level|letter|support|bank|esign")


def measure(source: str) -> tuple[int, int]:
    """(all lines, lines of code): code leaves out blank lines, comment lines and docstrings."""
    lines = source.splitlines()
    skip = {i for i, line in enumerate(lines, 1) if not line.strip()}
    skip |= {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT and not lines[tok.start[0] - 1].split("#")[0].strip()}
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            skip |= set(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return len(lines), len(lines) - len(skip)


def files_then() -> dict[str, str]:
    archive = subprocess.run(["git", "archive", REVIEWED, *FOLDERS], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.name.endswith(".py")}


def files_now() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))}


def total(files: dict[str, str]) -> tuple[int, int]:
    sizes = [measure(src) for src in files.values()]
    return sum(s[0] for s in sizes), sum(s[1] for s in sizes)


def main() -> None:
    now = files_now()
    then_all, then_code = total(files_then())
    rows = [("now, the review's modules and their successors", {k: v for k, v in now.items() if not LATER.search(k)}),
            ("now, everything in ui/ and api/", now)]
    print(f"| {'ui/ + api/':<50} | lines | smaller | lines of code | smaller |")
    print(f"|{'-' * 52}|------:|--------:|--------------:|--------:|")
    print(f"| {'at ' + REVIEWED + ' (the review)':<50} | {then_all:5} |         | {then_code:13} |         |")
    for label, files in rows:
        n_all, n_code = total(files)
        print(f"| {label:<50} | {n_all:5} | {1 - n_all / then_all:7.1%} | {n_code:13} | {1 - n_code / then_code:7.1%} |")


if __name__ == "__main__":
    main()
