"""The preset's documents — «Политика конфиденциальности», «Правила оказания услуг», «Пользовательское
соглашение» — as versioned files, served at ``/docs/{id}`` (the newest version) and
``/docs/{id}/{version}`` (one version, as a consent given to it can name it).

Each preset ships its own in ``legal_texts/<preset>/<id>.<version>.md``: the version is a sortable
string (``2024-01``); the first line ``# …`` is the title; then paragraphs separated by blank
lines, ``## …`` for a section heading and ``- …`` lines for a list.  A later issue makes them
instance configuration (an operator's own directory); the format stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dostup.core.errors import NotFound

TEXTS = Path(__file__).resolve().parent / "legal_texts"
DOCUMENT_IDS = ("agreement", "policy", "rules")
_NAME = re.compile(r"^(?P<id>[a-z]+)\.(?P<version>[0-9][0-9A-Za-z-]*)\.md$")


@dataclass(frozen=True, slots=True)
class Block:
    kind: str  # "h2", "p" or "ul"
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    version: str
    title: str
    blocks: tuple[Block, ...]
    versions: tuple[str, ...]  # every version of this document, newest first


def parse(doc_id: str, version: str, text: str, versions: tuple[str, ...] = ()) -> Document:
    chunks = [c.strip() for c in re.split(r"\n\s*\n", text.strip()) if c.strip()]
    if not chunks or not chunks[0].startswith("# "):
        raise ValueError(f"{doc_id}.{version}: the first line must be the title (# …)")
    title, *rest = chunks[0].splitlines()
    chunks[0] = "\n".join(rest)
    blocks: list[Block] = []
    for chunk in filter(None, chunks):
        lines = [line.strip() for line in chunk.splitlines()]
        if lines[0].startswith("## "):
            blocks.append(Block("h2", (lines[0][3:],)))
            lines = lines[1:]
        if lines and all(line.startswith("- ") for line in lines):
            blocks.append(Block("ul", tuple(line[2:] for line in lines)))
        elif lines:
            blocks.append(Block("p", (" ".join(lines),)))
    return Document(doc_id, version, title[2:].strip(), tuple(blocks), versions or (version,))


class LegalDocuments:
    """The documents of one preset, every version read once at start."""

    def __init__(self, documents: dict[str, list[Document]]) -> None:
        self._documents = documents  # id -> versions, newest first

    @classmethod
    def load(cls, preset: str, directory: Path = TEXTS) -> LegalDocuments:
        found: dict[str, dict[str, str]] = {}
        for path in sorted((directory / preset).glob("*.md")):
            match = _NAME.match(path.name)
            if match is None:
                raise ValueError(f"{path}: a document file is named <id>.<version>.md")
            found.setdefault(match["id"], {})[match["version"]] = path.read_text(encoding="utf-8")
        documents: dict[str, list[Document]] = {}
        for doc_id, texts in found.items():
            versions = tuple(sorted(texts, reverse=True))
            documents[doc_id] = [parse(doc_id, v, texts[v], versions) for v in versions]
        return cls(documents)

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._documents))

    def get(self, doc_id: str, version: str | None = None) -> Document | None:
        """The newest version of a document, or the one asked for; None when there is none."""
        versions = self._documents.get(doc_id, [])
        if version is None:
            return versions[0] if versions else None
        return next((d for d in versions if d.version == version), None)

    def find(self, doc_id: str, version: str | None = None) -> Document:
        """:meth:`get`, or «Документ не найден» (404)."""
        document = self.get(doc_id, version)
        if document is None:
            raise NotFound("docs.not_found")
        return document

    def current(self) -> list[Document]:
        return [self._documents[i][0] for i in self.ids()]
