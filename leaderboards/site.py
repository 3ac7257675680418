"""The static leaderboard site: index.html, leaderboard.json and one page per model, no server needed.

Every page is self-contained: the stylesheet and script from `site/` are
inlined and allowed by hash in a Content-Security-Policy that also forbids
any network request, so a page opens from file:// or any static host and
fetches nothing. The index embeds its data as JSON in a
<script type="application/json"> block with <, > and & written as \\u003c,
\\u003e and \\u0026 (a name holding "</script>" or "<!--" cannot end the
block); the script builds the table with textContent. Model pages are
rendered in Python with every string passed through html.escape.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
from html import escape
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.records import atomic_write_text, slug

ASSETS = Path(__file__).parent / "site"
MARKER = "leaderboard.json"  # a folder holding this was written by us and may be replaced


def model_slug(model: str) -> str:
    """A unique, file-safe page name: two names that slug alike still get different pages."""
    return f"{slug(model)[:40]}-{hashlib.sha256(model.encode('utf-8')).hexdigest()[:8]}"


def script_json(value) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives, so nothing can close the block."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def page(title: str, body: str, *, script: str | None = None) -> str:
    """A whole HTML page with the inlined stylesheet (and script) and a no-network CSP."""
    css = (ASSETS / "leaderboard.css").read_text(encoding="utf-8")
    script_src = _hash(script) if script else "'none'"
    csp = (f"default-src 'none'; script-src {script_src}; style-src {_hash(css)}; img-src 'self' data:; "
           "connect-src 'none'; base-uri 'none'; form-action 'none'")
    tail = f"<script>{script}</script>" if script else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{css}</style></head>\n<body>{body}{tail}</body></html>\n")


def index_page(board: dict) -> str:
    e = escape
    headers = "".join(f'<th data-key="{e(c)}" scope="col">{e(c.capitalize())}</th>' for c in board["categories"])
    body = (f'<header><h1>{e(board["title"])}</h1><p class="meta">Generated {e(board["generated_at"])} from '
            f'the definition {e(Path(board["definition"]).name)}. Scores are normalised so that 0 is the random '
            f'baseline and 1 the best value, with 95% intervals; see each model\'s page for raw results.</p></header>'
            f'<main><div class="controls"><label>Filter models <input id="filter" type="search" '
            f'placeholder="name contains..." autocomplete="off"></label> '
            f'<span id="row-count" class="meta"></span></div>'
            f'<p class="meta">{e(_ranking_note(board))}</p>'
            f'<table id="leaderboard"><thead><tr><th data-key="rank" scope="col">Rank</th>'
            f'<th data-key="model" scope="col">Model</th>'
            f'<th data-key="overall" scope="col">Overall</th>{headers}<th data-key="coverage" scope="col">Coverage</th>'
            f'</tr></thead><tbody></tbody></table>'
            f'<noscript><p>The table needs JavaScript; the data is in leaderboard.json.</p></noscript></main>'
            f'<script id="leaderboard-data" type="application/json">{script_json(board)}</script>')
    return page(board["title"], body, script=(ASSETS / "leaderboard.js").read_text(encoding="utf-8"))


def _ranking_note(board: dict) -> str:
    ranking = board.get("ranking") or {}
    reference = ", ".join(ranking.get("reference_categories") or []) or "none"
    return (f"Ranked: models scored on every one of the reference categories ({reference}). A rank range "
            f"(e.g. 1\u20133) means the 95% intervals of the overall scores overlap: the order is not shown. "
            f"Partial-coverage rows follow, unranked and marked; their overall scores average fewer categories.")


def _copy_artifacts(board: dict, records_root: dict, staging: Path) -> None:
    """Copy each record's artifact files next to its model page, so the site stands alone."""
    for model in board["models"]:
        for task in model["tasks"]:
            source_dir = records_root.get((model["model"], task["task"]))
            copied = {}
            for label, name in task["artifacts"].items():
                source = source_dir / name if source_dir else None
                if source is None or not source.is_file() or Path(name).is_absolute() or ".." in Path(name).parts:
                    continue
                target = Path("models") / model["slug"] / slug(task["task"]) / name
                (staging / target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, staging / target)
                copied[label] = target.relative_to("models").as_posix()
            task["artifact_links"] = copied


def write_site(board: dict, out_dir: str | Path, records_root: dict | None = None) -> Path:
    """Write the site into out_dir, replacing a site written before; returns the index path."""
    from evalsuite.leaderboards.model_page import model_page

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise UserError(f"'{out}' exists and is not a leaderboard site; pass an empty or new --out folder")
    for model in board["models"]:
        model["slug"] = model_slug(model["model"])
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _copy_artifacts(board, records_root or {}, staging)
        atomic_write_text(staging / MARKER, json.dumps(board, indent=1, ensure_ascii=False, allow_nan=False))
        atomic_write_text(staging / "index.html", index_page(board))
        for model in board["models"]:
            atomic_write_text(staging / "models" / f"{model['slug']}.html", model_page(board, model))
        # Swap the finished site in: a reader sees the old site or the new one, never half of one. The old
        # site moves into a folder this call creates under a unique name, and only that folder is deleted:
        # nothing that was there before (a user's `.site.old`, say) is touched.
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(trash / out.name)
            try:
                staging.rename(out)
            except BaseException:
                (trash / out.name).rename(out)  # put the old site back
                trash.rmdir()
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / "index.html"


def build_site(store, definition, out_dir: str | Path, *, return_board: bool = False):
    """Score and rank every model in the store under `definition` and write the site.

    Returns the index path (and the board, with `return_board`).
    """
    from evalsuite.leaderboards.aggregate import build_leaderboard, timings_by_model
    from evalsuite.leaderboards.results import latest_records_by_model

    records_by_model = latest_records_by_model(store)
    if not records_by_model:
        raise UserError(f"the results store {store.path} holds no records; run an evaluation first")
    board = build_leaderboard(records_by_model, definition, timings=timings_by_model(store))
    roots = {(m, t): Path(r["_path"]).parent for m, recs in records_by_model.items() for t, r in recs.items()}
    index = write_site(board, out_dir, roots)
    return (index, board) if return_board else index
