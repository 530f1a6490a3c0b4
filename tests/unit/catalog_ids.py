"""Finds every catalog id the code and the templates use, by parsing them (``ast`` and a template regex).

Three kinds of use:

* **literal ids** — every dotted lower-case string constant in ``dostup/**/*.py`` (error ``message_id``s,
  ``ValidationFailed("…")``, ``catalog.text("…")``, ``message_id="…"`` keywords, notice tables, preset
  labels) and every quoted dotted string in a template (``t("…")``, macro arguments).  A dotted string that
  is not a message id (a logger name, a column reference) is listed in :data:`NOT_IDS` with its reason;
* **built ids** — an f-string (``f"inn.length_{n}"``) or a template concatenation (``"companies.kind." ~ k``).
  Each shape is reduced to a pattern (``inn.length_*``) that :data:`DYNAMIC` must list with the values
  its variable part takes, so the test can check every expansion;
* **outbox messages** — ``outbox.enqueue(kind=…)``, ``sender.issue(kind=…)`` and the code method's
  ``Delivery(dest, purpose, kind, …)`` become ``courier.<kind>.<channel>`` (and ``.subject`` for e-mail)
  in ``dostup/courier/outbox.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "dostup"
TEMPLATES = ROOT / "web" / "ui" / "templates"
ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+[._]?$")
_FILE = re.compile(r"\.(html|py|po|txt|gz|db|ini|mako|js|css|svg|json)$")
_TEMPLATE_STRING = re.compile(r"""(["'])([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+[._]?)\1(\s*[~+])?""")
_CHANNELS = ("sms", "email")

# Dotted strings in code that are not message ids, with the reason.
NOT_IDS = {
    "accounts.id": "a foreign-key column reference",
    "vkid.personal_info": "a VK ID OAuth scope",
    "credentials.id": "a foreign-key column reference",
    "dostup.courier": "a logger name",
    "dostup.sending": "a logger name",
    "dostup.web": "a logger name",
    "dostup.i18n": "a logger name",
    "dostup.oidc": "a logger name",
    "oidc_grants.id": "a foreign-key column reference",
    "support_requests.id": "a foreign-key column reference",
    "http.request": "an ASGI message type",
    "http.response.body": "an ASGI message type",
    "http.response.start": "an ASGI message type",
    "sqlalchemy.url": "an Alembic configuration key",
    "dostup.app": "a module run with python -m (dostup serve / worker exec it)",
    "httpx._main": "a module name (kept from loading in serving processes)",
    "http.disconnect": "an ASGI message type",
    "webauthn.get": "a WebAuthn clientDataJSON type (W3C WebAuthn §5.8.1)",
    "dostup.fast_error": "an ASGI scope key (a fast path hands its error to the application)",
    "dostup.whoami_failure": "an ASGI scope key (the whoami fast path hands its error to the route)",
}


@dataclass(frozen=True)
class Use:
    where: str  # file (and line) for the failure message
    text: str  # the id, or the pattern of a built id (``*`` for each variable part)

    @property
    def built(self) -> bool:
        return "*" in self.text


def _rel(path: Path) -> str:
    return path.relative_to(ROOT.parent).as_posix()


def python_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def _pattern(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "*" for v in node.values)


def python_uses(path: Path) -> Iterator[Use]:
    tree = ast.parse(path.read_text(), filename=str(path))
    in_fstring = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        where = f"{_rel(path)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstring:
            if ID.match(node.value) and not _FILE.search(node.value) and node.value not in NOT_IDS:
                yield Use(where, node.value + "*" if node.value.endswith(("_", ".")) else node.value)
        elif isinstance(node, ast.JoinedStr):
            pattern = _pattern(node)
            if "." in pattern and ID.match(pattern.replace("*", "x")) and not _FILE.search(pattern):
                yield Use(where, pattern)


def template_uses(path: Path) -> Iterator[Use]:
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        for match in _TEMPLATE_STRING.finditer(line):
            text, joined = match.group(2), match.group(3)
            if _FILE.search(text):
                continue
            yield Use(f"{_rel(path)}:{lineno}", text + "*" if joined else text)


def all_uses() -> list[Use]:
    uses = [u for p in python_files() for u in python_uses(p)]
    uses += [u for p in sorted(TEMPLATES.glob("*.html")) for u in template_uses(p)]
    return uses


def _module_strings(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _module_path(module: str) -> Path:
    base = ROOT.parent.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _names(path: Path, tree: ast.Module) -> dict[str, str]:
    """Module-level string constants, with those imported by name from other ``dostup`` modules."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dostup"):
            source = _module_path(node.module)
            if source.exists():
                theirs = _module_strings(ast.parse(source.read_text()))
                names.update({a.asname or a.name: theirs[a.name] for a in node.names if a.name in theirs})
    names.update(_module_strings(tree))
    return names


def _value(node: ast.expr | None, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    return None


def _receiver(func: ast.expr) -> str:
    return func.value.attr.lstrip("_") if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) else ""


def _channel(kw: dict[str | None, ast.expr], local: dict[str, ast.expr], names: dict[str, str]) -> str | None:
    """The channel when the call fixes it: ``channel="sms"`` or a ``Destination("email", …)``."""
    if "channel" in kw:
        return _value(kw["channel"], names)
    dest = kw.get("dest")
    if isinstance(dest, ast.Name):
        dest = local.get(dest.id)
    if isinstance(dest, ast.Call) and dest.args:
        return _value(dest.args[0], names)
    return None


def outbox_messages() -> Iterator[tuple[str, str | None, tuple[str, ...]]]:
    """``(where, kind, channels)`` for every message queued: directly, or through the code sender.

    ``kind`` is None when the scan cannot tell it (the test then fails and asks for a constant).
    """
    for path in python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        names = _names(path, tree)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            assigned = [(t.id, n.value) for n in ast.walk(func) if isinstance(n, ast.Assign)
                        for t in n.targets if isinstance(t, ast.Name)]
            once = [name for name, _ in assigned]
            local = {name: value for name, value in assigned if once.count(name) == 1}
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                kw = {k.arg: k.value for k in node.keywords if k.arg}
                if isinstance(node.func, ast.Name) and node.func.id == "Delivery":  # the code method's messages
                    positional = dict(zip(("dest", "purpose", "message_kind"), node.args, strict=False))
                    kw = {**positional, **kw}
                    if "message_kind" in kw:
                        kw["kind"] = kw["message_kind"]
                elif not (isinstance(node.func, ast.Attribute)
                          and (node.func.attr, _receiver(node.func)) in {("enqueue", "outbox"), ("issue", "sender")}):
                    continue
                passed = kw.get("kind")
                if isinstance(passed, ast.Name) and passed.id == "kind" or (
                        isinstance(passed, ast.Attribute) and passed.attr == "message_kind"):
                    continue  # a pass-through: its callers are scanned instead
                channel = _channel(kw, local, names)
                yield f"{_rel(path)}:{node.lineno}", _value(kw.get("kind"), names), (channel,) if channel else _CHANNELS
