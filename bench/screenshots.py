"""Screenshots of each preset's main pages at 360 px and 1280 px, for the README and for review.

    python -m bench.screenshots [--out screenshots] [--preset kit ...] [--readme]

For each preset it runs ``dostup serve`` in a temporary directory (its own SQLite file, development
settings), makes one customer with ``dostup admin create-user`` (and, for rostelecom and sber, one linked
contract or card through the registry), and photographs in headless Chromium (Debian's
``/usr/bin/chromium``) the signed-out pages (home, sign-in, registration, recovery) and, after signing in
by the form, the cabinet, the settings, the security page and the preset's contracts or companies.
The files go to ``<out>/<preset>/<page>-<width>.png`` (``screenshots/`` is git-ignored).  ``--readme``
also writes ``docs/screenshots/<preset>.png`` — the first screenful (360 × 800) of the registration page at
360 px, the README's picture of each preset — recompressed (zlib level 9) to keep the repository small.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Server, _free_port, run_cli, server_env, serving

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (360, 1280)
PRESETS = ("kit", "rostelecom", "gosuslugi", "sber")
PASSWORD = "Screen-Shot-4711"
PHONE = "+79095550011"
OWNER = "+79095550022"
CONTRACT = "100200300400"
CARD = "4276380012345679"
# (name, address): shown signed out, then signed in.
SIGNED_OUT = (("home", "/"), ("login", "/login"), ("registration", "/registration"), ("recovery", "/recovery"))
SIGNED_IN = (("cabinet", "/cabinet"), ("settings", "/settings"), ("security", "/security"))
EXTRA = {"kit": (("companies", "/companies"),), "rostelecom": (("contracts", "/contracts"),),
         "sber": (("contracts", "/contracts"),)}
README_PAGE = ("registration", 360)


@contextmanager
def _server(preset: str, workdir: Path) -> Iterator[Server]:
    port = _free_port()
    env = server_env(workdir, f"http://127.0.0.1:{port}", {"DOSTUP_PRESET": preset, "DOSTUP_REQUIRE_COMPANY": "false"})
    if preset in ("rostelecom", "sber"):
        kind, number = ("card", CARD) if preset == "sber" else ("contract", CONTRACT)
        (workdir / "registry.csv").write_text(f"number,kind,phone,secret\n{number},{kind},{OWNER},1234\n",
                                              encoding="utf-8")
        _cli(workdir, env, "admin", "import-contracts", "registry.csv")
    login = ["--login", "screenshot.user"] if preset == "sber" else []
    _cli(workdir, env, "admin", "create-user", "--phone", PHONE, "--password", PASSWORD, *login)
    with serving(workdir, port, env) as srv:
        yield srv


def _cli(workdir: Path, env: dict[str, str], *args: str) -> None:
    done = run_cli(workdir, env, *args)
    if done.returncode != 0:
        raise SystemExit(f"dostup {' '.join(args)} failed: {done.stderr or done.stdout}")


def _sign_in(page: Page, preset: str, *, link: bool) -> None:
    if preset == "sber":
        page.goto("/login?method=login")
        page.get_by_label("Логин", exact=True).fill("screenshot.user")
    else:
        page.goto("/login?method=phone")
        page.get_by_label("Номер телефона").fill(PHONE)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Вход", exact=True).click()
    page.wait_for_url("**/cabinet")
    if link and preset in ("rostelecom", "sber"):  # link the registry's contract (card) by its secret, once
        page.goto("/contracts/link")
        if preset == "sber":
            page.get_by_label("Что привязать").select_option("card")
        page.get_by_label("Номер карты или счёта" if preset == "sber" else "Номер лицевого счёта или карты").fill(CARD if preset == "sber" else CONTRACT)
        page.locator("input[name=method][value=secret]").check()
        page.locator("#secret").fill("1234")
        page.locator("form[action='/contracts/link'] button[type=submit]").click()
        page.wait_for_url("**/contracts?done=linked")


def _shoot(browser: Browser, server: Server, preset: str, out: Path) -> list[Path]:
    made: list[Path] = []
    for width in WIDTHS:
        first = width == WIDTHS[0]
        context = browser.new_context(base_url=server.url, locale="ru-RU", viewport={"width": width, "height": 800})
        try:
            page = context.new_page()
            pages = [*SIGNED_OUT, None, *SIGNED_IN, *EXTRA.get(preset, ())]
            for item in pages:
                if item is None:
                    _sign_in(page, preset, link=first)
                    continue
                name, address = item
                page.goto(address)
                page.wait_for_load_state("networkidle")
                target = out / preset / f"{name}-{width}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(target), full_page=True, animations="disabled")
                made.append(target)
                if (name, width) == README_PAGE:  # the README's picture: the first screenful only
                    page.screenshot(path=str(out / preset / "readme.png"), animations="disabled")
        finally:
            context.close()
    return made


def recompress(source: Path, target: Path) -> None:
    """Copy a PNG, its image data deflated again at level 9 (Chromium writes it fast, not small)."""
    data = source.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", source
    chunks: list[tuple[bytes, bytes]] = []
    idat = b""
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT":
            idat += body
        elif kind in (b"IHDR", b"PLTE", b"tRNS", b"IEND"):
            chunks.append((kind, body))
    packed = zlib.compress(zlib.decompress(idat), 9)
    out = bytearray(data[:8])
    for kind, body in chunks:
        if kind == b"IEND":
            out += struct.pack(">I", len(packed)) + b"IDAT" + packed + struct.pack(">I", zlib.crc32(b"IDAT" + packed))
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="where to write (git-ignored)")
    parser.add_argument("--preset", action="append", choices=PRESETS, help="only these presets (repeatable)")
    parser.add_argument("--readme", action="store_true", help="also write docs/screenshots/<preset>.png")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install -y chromium)", file=sys.stderr)
        return 1
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for preset in args.preset or PRESETS:
                with tempfile.TemporaryDirectory(prefix=f"dostup-shots-{preset}-") as tmp, \
                        _server(preset, Path(tmp)) as server:
                    made = _shoot(browser, server, preset, args.out)
                print(f"{preset}: {len(made)} screenshots in {args.out / preset}")
                if args.readme:
                    target = ROOT / "docs" / "screenshots" / f"{preset}.png"
                    recompress(args.out / preset / "readme.png", target)
                    print(f"{preset}: {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KiB)")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
