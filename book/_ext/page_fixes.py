"""Three fixes to the theme's pages that the book's browser check (tests/browser) asks for.

- sphinx-thebe adds its inline configuration script (``const THEBE_JS_URL = ...``) each
  time the environment reads documents, and Sphinx de-duplicates scripts by file name
  only, so pages carried the inline script twice and the second threw "Identifier
  'THEBE_JS_URL' has already been declared". Repeated scripts are dropped here.
- pydata-sphinx-theme starts a first visit in the mode ``default_mode`` (a page-context value), which
  jupyter-book leaves empty, so the first page a reader opens logged "Got invalid theme
  mode". The book starts in light mode (its figures are drawn on white); the theme's
  switch still offers dark.
- sphinx-thebe (which jupyter-book always loads) puts on every page an inline script naming
  thebe's code on unpkg.com, and a loader that fetches it from there when live code is launched.
  The book offers no live-code button (launch buttons are off), so both are dead code that points
  at a CDN; they are dropped, and no page refers to another host for code.
"""

from __future__ import annotations


def _default_light_mode(app, config) -> None:
    # pydata-sphinx-theme reads it from the page context, not from the theme options
    config.html_context = {"default_mode": "light", **(config.html_context or {})}


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {})
        if str(getattr(js, "filename", js) or "").endswith("sphinx-thebe.js") or "THEBE_JS_URL" in str(
                attributes.get("body", "")):
            continue
        # the repeated inline scripts differ only in a file name of None against ''
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("config-inited", _default_light_mode)
    # html-page-context stops at the first listener that returns a template, and the
    # theme's listeners do: run before them (the repeated scripts are there by then)
    app.connect("html-page-context", _drop_repeated_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
