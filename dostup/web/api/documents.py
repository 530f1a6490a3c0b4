"""The preset's documents over JSON (an app shows them before the consent checkbox)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel

from dostup.accounts.legal import Document
from dostup.web.api.schemas import errors
from dostup.web.deps import ServicesDep


class DocumentBlockOut(BaseModel):
    kind: str  # "h2", "p" or "ul"
    lines: list[str]


class DocumentOut(BaseModel):
    id: str
    version: str
    title: str
    blocks: list[DocumentBlockOut]
    versions: list[str]  # newest first
    url: str  # the page of this version


class DocumentsOut(BaseModel):
    items: list[DocumentOut]


router = APIRouter(prefix="/documents", tags=["documents"], responses=errors(404))


def _out(doc: Document) -> DocumentOut:
    return DocumentOut.model_validate({**asdict(doc), "url": f"/docs/{doc.id}/{doc.version}"})


@router.get("")
async def documents(services: ServicesDep) -> DocumentsOut:
    """The newest version of each document: id, version, title, text blocks and its page's address."""
    return DocumentsOut(items=[_out(d) for d in services.legal.current()])


@router.get("/{doc_id}")
async def document(doc_id: str, services: ServicesDep, version: str | None = None) -> DocumentOut:
    """One document, the newest version or ``?version=…``; 404 ``not_found`` for an unknown one."""
    return _out(services.legal.find(doc_id, version))
