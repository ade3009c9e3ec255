"""The viewer in a real headless browser (Debian's ``chromium``): the page's script runs, draws
the proof's tactics into the DOM, folds and searches a large tree, and paints a non-blank
screenshot. Skipped where no chromium is installed."""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from view_trees import big_tree, small_tree

from prover.config import SearchResult, SearchStats
from prover.view.html import write_page
from prover.view.tree_json import doc_from_tree

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH (apt-get install "
                                "-y chromium) for the headless-browser test")
WIDTH, HEIGHT = 1400, 800


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert BROWSER is not None
    # --no-sandbox: CI containers run as root, where chromium's sandbox refuses to start.
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=5000", *args]
    done = subprocess.run(cmd, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


def _dom(tmp_path: Path, url: str) -> str:
    return _chromium(tmp_path, "--dump-dom", url).stdout.decode("utf-8")


def _labels(dom: str, cls: str) -> list[str]:
    """The label texts of the SVG nodes whose class list has ``cls``."""
    groups = re.findall(r'<g class="node ([^"]*)"[^>]*>(.*?)</g>', dom, re.S)
    return [html.unescape(m.group(1)) for classes, body in groups if cls in classes.split()
            for m in [re.search(r'<text[^>]*class="label"[^>]*>(.*?)</text>', body, re.S)]
            if m]


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of pixels (bytes per pixel: 3 or 4) of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = color = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and color in (2, 6), (depth, color)
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        begin = y * (stride + 1)
        kind, line = raw[begin], bytearray(raw[begin + 1:begin + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                      else corner)) & 255
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


@pytest.mark.slow
def test_page_renders_the_proof_and_a_non_blank_screenshot(tmp_path: Path) -> None:
    tree = small_tree()
    result = SearchResult("demo_lemma", "proved", tree.extract_proof(), SearchStats(), None, tree)
    page = write_page(doc_from_tree(tree, result), tmp_path / "page.html")
    dom = _dom(tmp_path, page.as_uri())
    assert 'data-rendered="5"' in dom  # the script ran to its end (4 states + the proof leaf)
    on_proof = _labels(dom, "onproof")
    for tactic in ("split_goal", "rewrite add_0_r", "reflexivity"):
        assert any(tactic in label for label in on_proof), (tactic, on_proof)
    assert _labels(dom, "rollout") == ["rollout_step"]  # the state a rollout reached
    assert 'class="edge rollout"' in dom and 'class="edge dag"' in dom
    assert "proof closed" in dom  # the details panel opened on the proof's last step

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    width, bpp, rows = _png_pixels(shot.read_bytes())
    assert width == WIDTH and len(rows) == HEIGHT
    colours = {row[i:i + 3] for row in rows[::4] for i in range(0, len(row), bpp * 4)}
    assert len(colours) > 10, len(colours)
    # The tree canvas (left of the details panel, below the header) is drawn by the script:
    # it must not be a white field.
    canvas = [row[i:i + 3] for row in rows[150:400] for i in range(0, 900 * bpp, bpp)]
    assert sum(px != b"\xff\xff\xff" for px in canvas) > 300


@pytest.mark.slow
def test_a_large_tree_is_folded_and_searchable(tmp_path: Path) -> None:
    tree = big_tree(4000)
    result = SearchResult("big", "proved", tree.extract_proof(), SearchStats(), None, tree)
    page = write_page(doc_from_tree(tree, result), tmp_path / "big.html")
    dom = _dom(tmp_path, page.as_uri() + "#search=needle_closing")
    assert 'data-rendered="4001"' in dom
    drawn = dom.count('<g class="node ')
    assert 0 < drawn < 1000, drawn  # folded: thousands of states, a few hundred drawn
    assert "+" in dom and 'class="badge"' in dom
    assert any("needle_closing_tactic" in label for label in _labels(dom, "match"))
    assert '<span id="matches">1 of 1</span>' in dom
