"""What a use-case knows about the caller: never the request object itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Surface = Literal["ui", "api", "cli"]


@dataclass(frozen=True, slots=True)
class Context:
    ip: str = "127.0.0.1"
    user_agent: str = ""
    surface: Surface = "api"
    locale: str = "ru"
