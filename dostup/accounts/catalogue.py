"""The service catalogue (SPEC §4.8): each service of the company declares the lowest level of assurance
that may use it, and the cabinet's home shows what is available and what the next level unlocks.

The preset brings its catalogue (gosuslugi's, from the seed: «Упрощённая … оплата штрафов ГИБДД; заказ
справочных услуг», «Стандартная … проверка налоговой задолженности; запись к врачу …», «Подтверждённая …
регистрации брака … разрешения на хранение и ношение оружия»), named by catalog ids ``services.<id>``;
``DOSTUP_LEVELS__SERVICES`` replaces it with the company's own (a name given there is shown as written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    id: str
    min_level: int
    name: str = ""  # as written by the operator; empty: the catalog's ``services.<id>``


@dataclass(frozen=True, slots=True)
class ServiceLine:
    id: str
    name: str | None  # the operator's own name, or None (then ``services.<id>`` in the catalog)
    min_level: int
    available: bool  # the account's level reaches it


@dataclass(frozen=True, slots=True)
class Catalogue:
    level: int
    available: list[ServiceLine]
    next_level: int | None  # the lowest level above the account's that unlocks something
    unlocked_next: list[ServiceLine]  # what that level unlocks
    later: list[ServiceLine]  # what needs a level above that


def catalogue(entries: Sequence[CatalogueEntry], level: int) -> Catalogue:
    lines = [ServiceLine(e.id, e.name or None, e.min_level, e.min_level <= level) for e in entries]
    above = sorted({line.min_level for line in lines if not line.available})
    nxt = above[0] if above else None
    return Catalogue(level, [x for x in lines if x.available], nxt,
                     [x for x in lines if x.min_level == nxt], [x for x in lines if nxt and x.min_level > nxt])
