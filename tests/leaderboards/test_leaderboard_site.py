"""The site writer without a browser: JSON embedding, self-contained pages, safe replacement of an old site."""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import json
import re

import pytest
from lb_records import EVIL_MODEL, entry, fairness_record, record_spec, write_run

from evalsuite.cli import main
from evalsuite.leaderboards.site import model_slug, script_json


def test_script_json_cannot_close_its_block_and_round_trips():
    value = {"name": "</script><!--<script>x</script>&amp;\u2028\u2029", "n": [1.5, None, True]}
    text = script_json(value)
    assert not set("<>&") & set(text) and "\u2028" not in text
    assert json.loads(text) == value


def test_model_slugs_are_unique_and_file_safe():
    names = ["a/b", "a_b", "a b", EVIL_MODEL, "", "../../etc"]
    slugs = [model_slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", s) and not s.startswith(".") for s in slugs)


@pytest.fixture
def built(tmp_path):
    write_run(tmp_path, EVIL_MODEL, {"t": record_spec({"acc": entry(0.7, "higher", (0.6, 0.8))}),
                                     "fair": fairness_record()})
    out = tmp_path / "site"
    assert main(["leaderboard", "build", "--results", str(tmp_path), "--out", str(out)]) == 0
    return tmp_path, out


def test_pages_are_self_contained_and_their_csp_hashes_match(built):
    _, out = built
    pages = [out / "index.html", *sorted((out / "models").glob("*.html"))]
    assert len(pages) == 2
    for html in (p.read_text() for p in pages):
        assert not re.search(r"(src|href)=\"(https?:)?//", html), "a page references the network"
        csp = html_lib.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
        assert "connect-src 'none'" in csp and "default-src 'none'" in csp
        for tag, directive in (("style", "style-src"), ("script", "script-src")):
            for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S):
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                assert f"'sha256-{digest}'" in csp.split(directive, 1)[1].split(";")[0]
        assert "<script>window.__pwned" not in html  # the name appears only escaped


def test_rebuild_replaces_the_site_and_refuses_a_foreign_folder(built, capsys):
    results, out = built
    (out / "stale.html").write_text("old")
    assert main(["leaderboard", "build", "--results", str(results), "--out", str(out)]) == 0
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".site")]  # no staging folder left
    foreign = results / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["leaderboard", "build", "--results", str(results), "--out", str(foreign)]) == 2
    assert "is not a leaderboard site" in capsys.readouterr().err and (foreign / "notes.txt").read_text() == "keep me"


def test_rebuild_never_deletes_what_it_did_not_create(built):
    """A user's `.site.old` (the name the old swap used) and any other neighbour survive a rebuild."""
    results, out = built
    theirs = out.with_name(f".{out.name}.old")
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine")
    neighbours = {p.name for p in out.parent.iterdir()}
    for _ in range(2):
        assert main(["leaderboard", "build", "--results", str(results), "--out", str(out)]) == 0
    assert (theirs / "keep.txt").read_text() == "mine"
    assert {p.name for p in out.parent.iterdir()} == neighbours  # no staging or trash folder left behind
    assert (out / "index.html").is_file()


def test_build_without_records_or_with_a_bad_definition_is_a_user_error(tmp_path, capsys):
    assert main(["leaderboard", "build", "--results", str(tmp_path)]) == 2
    assert "no results store" in capsys.readouterr().err
    write_run(tmp_path, "m", {"t": record_spec({"acc": entry(0.5)})})
    bad = tmp_path / "board.yaml"
    bad.write_text("categories: {capability: one}\n")
    assert main(["leaderboard", "build", "--results", str(tmp_path), "--definition", str(bad)]) == 2
    assert "categories.capability must be a finite number, got 'one'" in capsys.readouterr().err
    assert not (tmp_path / "leaderboard").exists()
