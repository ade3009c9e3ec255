"""Loading miniF2F-style theorem files for the Lean backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_DATA

from prover.errors import DataFormatError
from prover.theorems import load_theorems, theorem_from_record

SMALL = TEST_DATA / "theorems_small.jsonl"


def test_small_file_gives_theorems_with_their_locators() -> None:
    first, second = load_theorems(SMALL)
    assert first.name == "add_comm_nat"
    assert first.statement == "theorem add_comm_nat (a b : Nat) : a + b = b + a := by"
    assert dict(first.locator) == {"header": "", "formal_statement": first.statement}
    assert second.locator["header"] == "import Mathlib\n\n"
    assert second.locator["leandojo"] == {
        "url": "https://github.com/example/lean4-demo",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "file_path": "Demo/TwoGoals.lean", "full_name": "two_goals"}


def test_variants_replace_what_they_carry() -> None:
    with pytest.raises(DataFormatError) as caught:
        load_theorems(SMALL, variant="old_dojo")  # the first record has no variants
    assert (caught.value.line, caught.value.field) == (1, "variants.old_dojo")
    record = json.loads(SMALL.read_text(encoding="utf-8").splitlines()[1])
    old = theorem_from_record(record, variant="old_dojo")
    assert old.name == "two_goals"
    assert old.locator["leandojo"]["full_name"] == "Demo.two_goals"
    assert old.locator["leandojo"]["file_path"] == "Demo.lean"
    assert old.statement == "theorem two_goals (p q : Prop) (hp : p) (hq : q) : p ∧ q := by"
    assert old.locator["header"] == "import Mathlib\n\n"
    v49 = theorem_from_record(record, variant="lean4.9")
    assert v49.locator["header"] == "import Mathlib\nimport Aesop\n\n"
    assert v49.statement.endswith(":= by\n")
    assert v49.locator["leandojo"]["full_name"] == "two_goals"  # kept from the record


def _write(tmp_path: Path, lines: list[Any]) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line)
                              for line in lines) + "\n", encoding="utf-8")
    return path


GOOD = {"name": "a", "header": "", "formal_statement": "theorem a : True := by"}


@pytest.mark.parametrize(("bad", "field", "words"), [
    ({"header": "", "formal_statement": "x"}, "name", "missing"),
    ({**GOOD, "name": ""}, "name", "empty"),
    ({**GOOD, "header": None}, "header", "string"),
    ({k: v for k, v in GOOD.items() if k != "header"}, "header", "missing"),
    ({**GOOD, "formal_statement": 3}, "formal_statement", "string"),
    ({**GOOD, "leandojo": "x"}, "leandojo", "object"),
    ({**GOOD, "leandojo": {"url": "u", "commit": "c", "file_path": "A.lean"}},
     "leandojo.full_name", "missing"),
    ({**GOOD, "leandojo": {"url": "u", "commit": "c", "file_path": "A.v", "full_name": "a"}},
     "leandojo.file_path", ".lean"),
    ([1, 2], None, "object"),
])
def test_bad_records_name_file_line_and_field(tmp_path: Path, bad: Any, field: str | None,
                                              words: str) -> None:
    path = _write(tmp_path, [GOOD | {"name": "first"}, bad])
    with pytest.raises(DataFormatError) as caught:
        load_theorems(path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 2, field)
    assert words in str(error) and str(path) in str(error) and "line 2" in str(error)


def test_bad_json_duplicates_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="line 2") as caught:
        load_theorems(_write(tmp_path, [GOOD, "{not json"]))
    assert caught.value.line == 2
    with pytest.raises(DataFormatError, match="duplicate theorem name 'a'") as caught:
        load_theorems(_write(tmp_path, [GOOD, {"x": 1} | GOOD]))
    assert (caught.value.line, caught.value.field) == (2, "name")
    with pytest.raises(DataFormatError, match="no theorems"):
        load_theorems(_write(tmp_path, [""]))
    assert load_theorems(_write(tmp_path, [GOOD | {"leandojo": None}]))[0].locator.get(
        "leandojo") is None


def test_minif2f_test_split(shared_data: Path) -> None:
    path = shared_data / "minif2f" / "minif2f_test.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    theorems = load_theorems(path)
    assert len(theorems) == 244
    assert len({t.name for t in theorems}) == 244
    for theorem in theorems:
        assert theorem.statement.startswith(("theorem ", "lemma "))
        assert theorem.statement.rstrip().endswith(":= by")
        assert theorem.locator["header"].startswith("import Mathlib")
        locator = theorem.locator["leandojo"]
        assert locator["full_name"] == theorem.name
        assert locator["file_path"] == f"MiniF2F/Test/{theorem.name}.lean"
    dojo = load_theorems(path, variant="lean_dojo_mew_v4.7.0")
    assert [t.name for t in dojo] == [t.name for t in theorems]
    assert {t.locator["leandojo"]["file_path"] for t in dojo} == {"MiniF2F/Test.lean"}
    assert all(t.statement.endswith(":= by") for t in dojo)


def test_a_null_variant_names_the_record_and_can_be_skipped(tmp_path: Path) -> None:
    variants = {"v": {"header": "", "formal_statement": "theorem b : True := by"}}
    path = _write(tmp_path, [GOOD | {"variants": variants},
                             GOOD | {"name": "b", "variants": {"v": None}}])
    with pytest.raises(DataFormatError, match="null") as caught:
        load_theorems(path, variant="v")
    assert (caught.value.line, caught.value.field) == (2, "variants.v")
    assert [t.name for t in load_theorems(path, variant="v", skip_missing_variant=True)] == ["a"]
    with pytest.raises(DataFormatError, match="'w'") as caught:
        load_theorems(path, variant="w")  # absent: the message lists the variants there are
    assert (caught.value.line, caught.value.field) == (1, "variants.w")
    assert "'v'" in str(caught.value)
    with pytest.raises(DataFormatError, match="expected an object") as caught:
        load_theorems(_write(tmp_path, [GOOD | {"variants": {"v": "x"}}]), variant="v")
    assert caught.value.field == "variants.v"


def test_left_out_records_are_counted_named_and_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    variants = {"v": {"header": "", "formal_statement": "theorem b : True := by"}}
    lines: list[Any] = [GOOD | {"variants": variants}]
    lines += [GOOD | {"name": f"n{i}", "variants": {"v": None}} for i in range(7)]
    path = _write(tmp_path, lines)
    skipped: list[str] = []
    theorems = load_theorems(path, variant="v", skip_missing_variant=True, skipped=skipped)
    assert [t.name for t in theorems] == ["a"]
    assert skipped == [f"n{i}" for i in range(7)]
    assert "7 of 8 records have no variant 'v'" in caplog.text
    assert "n0, n1, n2, n3, n4, ..." in caplog.text and "n5" not in caplog.text
    caplog.clear()
    load_theorems(path, skipped=skipped)  # nothing left out: no warning, nothing added
    assert len(skipped) == 7 and "left out" not in caplog.text


def test_minif2f_valid_lacks_one_leandojo_variant(shared_data: Path) -> None:
    path = shared_data / "minif2f" / "minif2f_valid.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with pytest.raises(DataFormatError) as caught:
        load_theorems(path, variant="lean_dojo_mew_v4.7.0")
    assert caught.value.field == "variants.lean_dojo_mew_v4.7.0" and caught.value.line == 98
    dojo = load_theorems(path, variant="lean_dojo_mew_v4.7.0", skip_missing_variant=True)
    assert len(dojo) == 243 and "imo_2006_p3" not in {t.name for t in dojo}


def test_leandojo_style_records_are_read(tmp_path: Path) -> None:
    record = {"full_name": "amc12a_2015_p10", "url": "https://github.com/wzj423/lean-dojo-mew",
              "commit": "1ef4e4ca", "file_path": "MiniF2F/Validation.lean", "split": "valid",
              "statement": "theorem amc12a_2015_p10 (x y : ℤ) (h₀ : 0 < y) : x = 26"}
    (theorem,) = load_theorems(_write(tmp_path, [record]))
    assert theorem.name == "amc12a_2015_p10"
    assert theorem.statement == record["statement"] + " := by"
    assert theorem.locator["header"] == ""
    assert theorem.locator["leandojo"]["file_path"] == "MiniF2F/Validation.lean"
    with pytest.raises(DataFormatError) as caught:
        load_theorems(_write(tmp_path, [{k: v for k, v in record.items() if k != "commit"}]))
    assert (caught.value.line, caught.value.field) == (1, "commit")


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n\n" + b'{"name": "\xff"}\n')
    with pytest.raises(DataFormatError, match="UTF-8") as caught:
        load_theorems(path)
    assert caught.value.line == 3 and str(path) in str(caught.value)


@pytest.mark.parametrize(("given", "loaded"), [
    ("theorem t : 1 = 1 := by sorry", "theorem t : 1 = 1 := by"),
    ("theorem t : 1 = 1 := by\n  sorry\n", "theorem t : 1 = 1 := by"),
    ("theorem t : 1 = 1 := sorry", "theorem t : 1 = 1 :="),
    ("theorem t (my_sorry : Prop) : my_sorry → my_sorry := by", None),  # no proof: kept
])
def test_a_statement_ending_in_sorry_loses_it(given: str, loaded: str | None) -> None:
    from prover.backends.repl import statement_with_sorry

    theorem = theorem_from_record({"name": "t", "header": "", "formal_statement": given})
    assert theorem.statement == (given if loaded is None else loaded)
    assert theorem.locator["formal_statement"] == theorem.statement
    # what the REPL is sent: one sorry, however the statement came
    opening = theorem.statement + (" by" if theorem.statement.endswith(":=") else "")
    assert statement_with_sorry(given) == opening + " sorry"
    dojo_style = theorem_from_record({"full_name": "t", "statement": given, "url": "u",
                                      "commit": "c", "file_path": "T.lean"})
    assert dojo_style.statement.endswith(":= by") and " sorry :=" not in dojo_style.statement


def test_a_statement_ending_in_a_proof_that_gives_up_is_refused() -> None:
    record = {"name": "t", "header": "",
              "formal_statement": "theorem t : 1 = 1 := by\n  simp\n  sorry"}
    with pytest.raises(DataFormatError) as caught:
        theorem_from_record(record, path="f.jsonl", line=3)
    assert (caught.value.line, caught.value.field) == (3, "formal_statement")
    assert "sorry" in str(caught.value)
