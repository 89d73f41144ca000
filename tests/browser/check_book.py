"""Open every page of the built book in headless Chromium, as a reader would, and fail on what a reader trips over.

    python tests/browser/check_book.py [_build/html] [--screenshots DIR] [--pages GLOB ...]

(``make check-book`` runs it after ``make book``.) The site is served from a local HTTP server and
every request to another host is blocked, so a page that needs the network fails. Each page is
opened at desktop (1300x1000) and phone (390x844) size; the check fails on

- a console error or an uncaught exception, a request that fails or is answered with an error, a
  request to another host;
- mathematics left as raw TeX (MathJax did not typeset it);
- an image that does not load, or one the page scales down at desktop size (its box narrower than
  the file; on a phone every figure is scaled to the screen's width, as it must be);
- a figure in a cell's output that is not a numbered figure with a caption in both languages
  ("English · 中文") and alt text of its own (not the hashed file name);
- an internal link to a page or an anchor that does not exist;
- a warning, a traceback through library code, or a path of the build machine in a cell's output;
- more than one visible search box in the header;
- a sidebar or contents toggle that does not open or close its panel.

It also checks that choosing 中文 on one page carries over to the next, and that the search page finds
a chapter for a Chinese and an English term (:data:`SEARCHES`), and that the status page's execution
table lists every chapter with a successful run. Every chapter page must offer its English and its
Chinese notebook (``_notebooks/<chapter>.<lang>.ipynb``), each a valid notebook in its language that
the served site hands out; and no page may load a script or stylesheet from another host (a CDN),
whether or not the blocked network lets the browser ask for it. Screenshots of two chapters
per language at both sizes go to ``--screenshots`` (default ``_build/screenshots``) for a person to
look at. Chromium is Debian's (``apt-get install chromium``) or ``$CHROMIUM``; Playwright drives it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urldefrag, urljoin, urlparse

SIZES = {"desktop": (1300, 1000), "phone": (390, 844)}
SCREENSHOT_PAGES = ("chapters/02_autoencoders.html", "chapters/08_rbm.html")
# a query and a page its results must list: Chinese terms (also inside longer words) and an English one
SEARCHES = (("自编码器", "chapters/02_autoencoders.html"), ("玻尔兹曼", "chapters/08_rbm.html"),
            ("autoencoder", "chapters/02_autoencoders.html"))
# what must never appear in a rendered output: warnings, and paths of the machine that built the book
OUTPUT_FAULTS = re.compile(r"Warning\b|Traceback \(most recent call last\)|site-packages|\.venv|/work/|/home/|/root/|"
                           r"/tmp/|/usr/lib/python|[A-Z]:\\\\Users")


# ---------------------------------------------------------------------- static checks (no browser)
class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.assets: list[str] = []  # scripts and stylesheets the page loads
        self._script = False
        self.inline_scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "script":
            self._script = True
            if attrs.get("src"):
                self.assets.append(attrs["src"])
        if tag == "link" and attrs.get("href") and {"stylesheet", "preload", "modulepreload"} & set(
                (attrs.get("rel") or "").split()):
            self.assets.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = False

    def handle_data(self, data):
        if self._script and data.strip():
            self.inline_scripts.append(data)


def _parsed(path: Path) -> _Anchors:
    p = _Anchors()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return p


# a script that fetches code from a CDN at run time (myst-nb's widget loader goes through require.js)
CDN_IN_SCRIPT = re.compile(r"(?:https?:)?//(?:cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|esm\.sh|"
                           r"ajax\.googleapis\.com|code\.jquery\.com|raw\.githubusercontent\.com|"
                           r"[\w.-]*cdn[\w.-]*)/", re.I)


def external_assets(root: Path, pages: list[Path]) -> list[str]:
    """Scripts and stylesheets a page would load from another host, named or fetched by an inline script."""
    faults = []
    for page in pages:
        parsed = _parsed(page)
        for url in parsed.assets:
            if urlparse(url).scheme in ("http", "https") or url.startswith("//"):
                faults.append(f"{page.relative_to(root)}: loads {url} from another host")
        for script in parsed.inline_scripts:
            match = CDN_IN_SCRIPT.search(script)
            if match:
                faults.append(f"{page.relative_to(root)}: an inline script fetches from {match.group(0)}")
    return faults


def notebook_link_faults(root: Path) -> list[str]:
    """Each chapter page links its two notebooks, and each is a valid notebook in its own language."""
    faults = []
    for chapter in sorted((root / "chapters").glob("*.html")):
        links = _parsed(chapter).links
        for lang in ("en", "zh"):
            want = f"_notebooks/{chapter.stem}.{lang}.ipynb"
            href = next((h for h in links if urldefrag(h)[0].endswith(want)), None)
            if href is None:
                faults.append(f"chapters/{chapter.name}: no download link to {want}")
                continue
            path = (chapter.parent / unquote(urldefrag(href)[0])).resolve()
            fault = notebook_fault(path.read_bytes() if path.exists() else None, lang)
            if fault:
                faults.append(f"{want}: {fault}")
    return faults


def notebook_fault(content: bytes | None, lang: str) -> str | None:
    """Why ``content`` is not a valid notebook of the chapter in ``lang`` (None when it is)."""
    import nbformat

    if content is None:
        return "missing"
    try:
        nb = nbformat.reads(content.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except (ValueError, AttributeError, TypeError, nbformat.ValidationError) as exc:  # JSON that is no notebook
        return f"not a valid notebook ({str(exc)[:120]})"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    if lang == "en" and cjk:
        return f"the English notebook holds {cjk} Chinese characters"
    if lang == "zh" and cjk < 200:
        return "the Chinese notebook holds almost no Chinese"
    if not any(c.cell_type == "code" for c in nb.cells):
        return "no code cells"
    keys = re.findall(r"`(ch\d\d_\w+)`", text)
    if keys:  # the exporter writes a glue key where the build's value was missing
        return f"{len(keys)} numbers of the build are missing (glue keys such as {keys[0]!r} stand in their place)"
    return None


def broken_links(root: Path, pages: list[Path]) -> list[str]:
    """Internal links (same site) whose file or anchor does not exist."""
    parsed: dict[Path, _Anchors] = {}

    def parse(path: Path) -> _Anchors:
        if path not in parsed:
            parsed[path] = _parsed(path)
        return parsed[path]

    faults = []
    for page in pages:
        for href in parse(page).links:
            url = urlparse(href)
            if url.scheme or url.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target, anchor = urldefrag(href)
            path = (page.parent / unquote(target)).resolve() if target else page
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                faults.append(f"{page.relative_to(root)}: link to {href}: no such file")
            elif anchor and path.suffix == ".html" and unquote(anchor) not in parse(path).ids:
                faults.append(f"{page.relative_to(root)}: link to {href}: no such anchor")
    return faults


# ---------------------------------------------------------------------- the server
def status_faults(root: Path) -> list[str]:
    """Every chapter must appear in ``book/status.html``'s execution table, marked as run successfully."""
    page = root / "book" / "status.html"
    if not page.exists():
        return ["book/status.html is missing: the status page was not built"]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page.read_text(encoding="utf-8"), flags=re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
             for row in rows]
    faults = []
    for chapter in sorted((root / "chapters").glob("*.html")):
        name = f"chapters/{chapter.stem}"
        row = next((c for c in cells if c and c[0] == name), None)
        if row is None:
            faults.append(f"the status page does not list {name}")
        elif "✅" not in row:
            faults.append(f"the status page shows {name} without a successful run: {row}")
    return faults


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# ---------------------------------------------------------------------- in the browser
_MATH_LEFT = """() => {
  const raw = [...document.querySelectorAll('.math, span.math, div.math')]
      .filter(e => !e.querySelector('mjx-container') && e.textContent.trim());
  return raw.slice(0, 3).map(e => e.textContent.trim().slice(0, 60));
}"""

_IMAGES = """() => [...document.querySelectorAll('article img, main img')]
  .filter(img => img.offsetParent !== null)
  .map(img => { const fig = img.closest('figure'); const cap = fig && fig.querySelector('figcaption');
    const num = cap && cap.querySelector('.caption-number');
    return {src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0,
            natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
            alt: img.getAttribute('alt') || '', output: !!img.closest('.cell_output'),
            caption: cap ? cap.innerText.trim() : null, number: num ? num.innerText.trim() : null}; })"""

_HASHED_NAME = re.compile(r"^[0-9a-f]{16,}(\.\w+)?$|\.(png|jpe?g|svg)$", re.IGNORECASE)


def figure_fault(img: dict) -> str | None:
    """What is missing from an output figure: a number, a caption in both languages, its own alt text."""
    if not img.get("output"):
        return None
    if img.get("caption") is None:
        return f"figure without a caption: {img['src']}"
    if not img.get("number"):
        return f"figure without a number: {img['src']}"
    caption = img["caption"]
    if " · " not in caption or not re.search(r"[\u4e00-\u9fff]", caption.split(" · ", 1)[1]):
        return f"caption not in both languages (English · 中文): {caption[:80]!r}"
    alt = img.get("alt", "").strip()
    if not alt or _HASHED_NAME.search(alt):
        return f"figure without alt text of its own (alt={alt!r}): {img['src']}"
    return None

_OUTPUTS = """() => [...document.querySelectorAll('.cell_output')].map(e => e.innerText)"""

_SEARCH_BOXES = """() => [...document.querySelectorAll('header .search-button, header form.bd-search, \
header .search-button-field')].filter(e => e.offsetParent !== null && e.getBoundingClientRect().width > 0).length"""


def _typeset(page) -> None:
    """Wait until MathJax has typeset the page (a page without mathematics has nothing to wait for)."""
    page.wait_for_load_state("networkidle")
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise && MathJax.startup.promise.then(() => 1)")
    page.wait_for_timeout(300)


def _visible(page, selector: str) -> bool:
    return page.evaluate("""(sel) => { const e = document.querySelector(sel);
        if (!e) return false; const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; }""", selector)


def _toggle_faults(page, size: str) -> list[str]:
    """Click each visible sidebar toggle: its panel must change between shown and hidden (and back)."""
    faults = []
    panels = {"primary": ("#pst-primary-sidebar-modal", ".bd-sidebar-primary"),
              "secondary": ("#pst-secondary-sidebar-modal", ".bd-sidebar-secondary")}
    for name, (modal, sidebar) in panels.items():
        buttons = page.locator(f"button.{name}-toggle")
        visible = [buttons.nth(i) for i in range(buttons.count()) if buttons.nth(i).is_visible()]
        if not visible:
            if name == "primary":
                faults.append(f"{size}: no visible {name} sidebar toggle")
            continue

        def shown():
            return _visible(page, f"{modal}[open] .bd-sidebar-{name}, {modal}[open]") or _visible(page, sidebar)

        before = shown()
        visible[0].click()
        page.wait_for_timeout(400)
        after = shown()
        if after == before:
            faults.append(f"{size}: the {name} toggle did not {'open' if not before else 'close'} its panel")
        if page.evaluate(f"() => !!document.querySelector('{modal}[open]')"):
            page.keyboard.press("Escape")
            page.wait_for_timeout(200)
        elif after != before:
            visible[0].click()
            page.wait_for_timeout(300)
    return faults


def _choose(page, lang: str) -> bool:
    label = page.locator(f'label.sd-tab-label[data-sync-group="lang"][data-sync-id="{lang}"]')
    if label.count() == 0:
        return False
    label.first.click()
    page.wait_for_timeout(200)
    return True


def _chosen(page) -> str | None:
    return page.evaluate("""() => { const l = [...document.querySelectorAll('label.sd-tab-label[data-sync-group="lang"]')]
        .find(l => { const i = document.getElementById(l.getAttribute('for')); return i && i.checked; });
        return l ? l.dataset.syncId : null; }""")


def check_page(context, base: str, rel: str, size: str) -> list[str]:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(f"console error: {m.text[:200]}"))
    page.on("pageerror", lambda e: errors.append(f"uncaught exception: {str(e)[:200]}"))
    page.on("requestfailed", lambda r: not r.url.startswith("data:") and errors.append(
        f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
    page.goto(urljoin(base, rel), wait_until="load")
    _typeset(page)
    faults = list(errors)
    for tex in page.evaluate(_MATH_LEFT):
        faults.append(f"raw TeX left: {tex!r}")
    langs = ["en", "zh"] if page.locator('label.sd-tab-label[data-sync-group="lang"]').count() else [None]
    for lang in langs:
        if lang:
            _choose(page, lang)
        for img in page.evaluate(_IMAGES):
            if not img["ok"]:
                faults.append(f"image does not load: {img['src']}")
            elif size == "desktop" and img["shown"] + 1 < img["natural"]:
                faults.append(f"image scaled down to {img['shown']:.0f} of {img['natural']} px: {img['src']}")
            fault = figure_fault(img)
            if fault:
                faults.append(fault)
    if size == "desktop":
        for text in page.evaluate(_OUTPUTS):
            match = OUTPUT_FAULTS.search(text)
            if match:
                start = max(0, match.start() - 60)
                faults.append(f"output shows {match.group(0)!r}: ...{text[start:match.end() + 60]!r}")
        if page.evaluate(_SEARCH_BOXES) > 1:
            faults.append("more than one search box in the header")
    faults += _toggle_faults(page, size)
    faults += [e for e in errors if e not in faults]  # those the clicks raised
    page.close()
    return [f"{rel} ({size}): {f}" for f in faults]


def check_language_carries(context, base: str, first: str, second: str) -> list[str]:
    page = context.new_page()
    page.goto(urljoin(base, first))
    if not _choose(page, "zh"):
        page.close()
        return [f"{first}: no 中文 tab to choose"]
    page.goto(urljoin(base, second))
    page.wait_for_timeout(300)
    chosen = _chosen(page)
    _choose(page, "en")  # leave the stored choice as a new reader finds it
    page.close()
    return [] if chosen == "zh" else [f"choosing 中文 on {first} did not carry to {second} (it shows {chosen})"]


def check_search(context, base: str) -> list[str]:
    faults = []
    for query, expected in SEARCHES:
        page = context.new_page()
        page.goto(urljoin(base, "search.html?q=" + quote(query)))
        try:
            page.wait_for_selector("#search-results ul.search li a", timeout=20_000)
        except Exception:  # Playwright's TimeoutError: no result at all
            pass
        found = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
        page.close()
        if not any(urlparse(href).path.endswith("/" + expected) for href in found):
            faults.append(f"searching for {query!r} does not list {expected} ({len(found)} results)")
    return faults


def check_downloads(context, base: str, root: Path) -> list[str]:
    """Follow each chapter's two notebook links on the served site, as a reader's click would."""
    faults = []
    page = context.new_page()
    for chapter in sorted((root / "chapters").glob("*.html")):
        rel = f"chapters/{chapter.name}"
        page.goto(urljoin(base, rel))
        for lang in ("en", "zh"):
            link = page.locator(f'a[href$="_notebooks/{chapter.stem}.{lang}.ipynb"]')
            if not link.count():
                faults.append(f"{rel}: no {lang} notebook in the download menu")
                continue
            url = urljoin(page.url, link.first.get_attribute("href"))
            response = page.request.get(url)
            fault = (f"HTTP {response.status}" if not response.ok
                     else notebook_fault(response.body(), lang))
            if fault:
                faults.append(f"{rel}: the {lang} notebook download: {fault}")
    page.close()
    return faults


def screenshots(context_for, base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        context = context_for(size)
        for rel in SCREENSHOT_PAGES:
            for lang in ("en", "zh"):
                page = context.new_page()
                page.goto(urljoin(base, rel))
                _typeset(page)
                _choose(page, lang)
                page.wait_for_timeout(300)
                name = f"{Path(rel).stem}-{lang}-{size}.png"
                page.screenshot(path=str(out / name), full_page=False)
                page.close()
        context.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--screenshots", type=Path, default=Path("_build/screenshots"))
    parser.add_argument("--pages", nargs="*", help="only these pages (paths relative to the root; globs allowed)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "index.html").exists():
        print(f"{root}/index.html not found: build the book first (make book).", file=sys.stderr)
        return 2
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("Chromium not found: install it (sudo apt-get install chromium) or set CHROMIUM to its path.",
              file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    every = sorted(p for p in root.rglob("*.html") if not any(part.startswith("_") for part in p.relative_to(root).parts))
    pages = every if not args.pages else sorted({p for g in args.pages for p in root.glob(g)})
    faults = broken_links(root, every) + status_faults(root) + notebook_link_faults(root) + external_assets(root, every)
    server, base = serve(root)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])

            def context_for(size):
                w, h = SIZES[size]
                context = browser.new_context(viewport={"width": w, "height": h}, service_workers="block")
                # the network is blocked: only the local server answers
                context.route(re.compile(r"^(?!http://127\.0\.0\.1:).*"), lambda route: (
                    faults.append(f"request to another host: {route.request.url}"), route.abort()))
                return context

            for size in SIZES:
                context = context_for(size)
                for path in pages:
                    rel = path.relative_to(root).as_posix()
                    found = check_page(context, base, rel, size)
                    print(f"{'FAIL' if found else 'ok  '} {rel} ({size})", *("    " + f for f in found),
                          sep="\n", flush=True)
                    faults += found
                context.close()
            context = context_for("desktop")
            faults += check_language_carries(context, base, "chapters/01_why_compress.html", "chapters/02_autoencoders.html")
            faults += check_search(context, base)
            faults += check_downloads(context, base, root)
            context.close()
            screenshots(context_for, base, args.screenshots.resolve())
            browser.close()
    finally:
        server.shutdown()
    faults = list(dict.fromkeys(faults))
    for fault in faults:
        print("  " + fault)
    print(f"{len(pages)} pages at {len(SIZES)} sizes: {len(faults)} faults; screenshots in {args.screenshots}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
