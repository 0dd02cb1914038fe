"""The conformance file: passes, is current, and covers every rule of ENCODING.md."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys

from masknet_edge.edge_runtime.conformance import (
    BEHAVIOUR_FILE,
    CONFORMANCE_FILE,
    decode_value,
    encode_value,
    run_conformance,
)
from tests.conftest import ROOT

# Rules checked on bundles rather than by spec-independent cases, and the tests that check them.
BUNDLE_RULES = {
    "9.1": ("tests.test_reliability", "test_fuzz_score_only_documented_errors_and_valid_scores"),
    "9.3": (
        "tests.edge_runtime.test_ranker",
        "test_a_spec_whose_ids_do_not_fit_the_model_is_refused_at_load",
    ),
    "9.4": ("tests.edge_runtime.test_ranker", "test_verify_detects_a_changed_encoding"),
    "10.0": (
        "tests.edge_runtime.test_behaviour",
        "test_a_bad_behaviour_section_is_a_spec_error_naming_the_feature",
    ),
}


def _sections() -> set[str]:
    text = (ROOT / "ENCODING.md").read_text()
    subsections = set(re.findall(r"^\*\*(\d+\.\d+)[ *]", text, flags=re.M))
    tops = set(re.findall(r"^## (\d+)\. ", text, flags=re.M))
    return subsections | {t for t in tops if not any(s.startswith(t + ".") for s in subsections)}


def test_this_runtime_passes_every_case():
    report = run_conformance()
    assert report.ok, str(report)
    assert report.cases >= 50


def test_the_file_is_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location(
        "regen", ROOT / "tests" / "golden" / "regenerate_conformance.py"
    )
    regen = importlib.util.module_from_spec(spec)
    sys.modules["regen"] = regen
    spec.loader.exec_module(regen)
    stored = json.loads(CONFORMANCE_FILE.read_text())["cases"]
    assert json.loads(json.dumps(regen.build())) == stored


def test_every_rule_of_encoding_md_has_a_case():
    sections = _sections()
    assert {"3.3", "5.2", "7.5", "9.2", "8"} <= sections  # the parser sees the document
    cases = [
        *json.loads(CONFORMANCE_FILE.read_text())["cases"],
        *json.loads(BEHAVIOUR_FILE.read_text())["cases"],
    ]
    covered = {s for c in cases for s in c["sections"]}
    assert covered <= sections, f"cases cite sections ENCODING.md lacks: {covered - sections}"
    missing = sections - covered - set(BUNDLE_RULES)
    assert not missing, f"ENCODING.md rules without a conformance case: {sorted(missing)}"
    for module, test in BUNDLE_RULES.values():
        assert hasattr(importlib.import_module(module), test), (module, test)


def test_every_error_case_fails_and_every_other_case_encodes():
    cases = json.loads(CONFORMANCE_FILE.read_text())["cases"]
    assert sum("error" in c for c in cases) >= 20
    assert all(("error" in c) != ("expected" in c) for c in cases if c["kind"] in ("encode", "request"))


def test_value_tags_round_trip():
    values = [float("nan"), float("inf"), -float("inf"), b"\xff", [1, 2.0, {"a": b"x"}], "\ud800"]
    back = decode_value(json.loads(json.dumps(encode_value(values))))
    assert back[0] != back[0] and back[1:4] == values[1:4] and back[4:] == values[4:]


def test_the_behaviour_cases_pass_and_can_fail(tmp_path):
    report = run_conformance(BEHAVIOUR_FILE)
    assert report.ok and report.cases >= 5, str(report)
    data = json.loads(BEHAVIOUR_FILE.read_text())
    data["cases"][0]["expected"]["items"]["decayed"][0] = 0.26
    data["cases"][-1]["expected"][3]["recent"] = ["b"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    failed = run_conformance(bad)
    assert len(failed.failures) == 2 and "decayed" in failed.failures[0] and "recent" in failed.failures[1]
