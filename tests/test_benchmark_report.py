"""The benchmark report renders every section (so a long `make bench` never dies at the last step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.run_all import render, render_reliability


def _quant_row(mode, ratio):
    return {
        "mode": mode,
        "bundle_bytes": 1000 * ratio,
        "bundle_ratio": ratio,
        "invoke_p50_ms": 0.5,
        "auc": 0.78,
        "auc_drop": 0.0001,
        "topk_overlap": 0.99,
        "ndcg": 0.999,
        "spearman": 0.999,
        "model_bytes": 900,
        "logloss_increase": 0.0,
        "max_abs_diff": 0.01,
    }


RESULTS = {
    "encoder": {"fields": 39, "distinct_values_per_s": 2.5e6, "real_values_per_s": 9.5e6, "real_rows": 7200},
    "runtime": {
        "bundle_kib": 10,
        "model_mb": 4.8,
        "invoke_ms": 1.5,
        "request_ms": 1.9,
        "request_over_invoke": 1.27,
        "keras_tf_function_ms": 7.0,
        "keras_predict_ms": 70.0,
        "speedup_vs_keras_tf_function": 4.6,
        "speedup_vs_keras_predict": 47,
        "import_s": 0.04,
        "import_load_s": 0.07,
        "load_rss_mb": 52,
        "rss_budget_mb": 104.8,
        "tensorflow_imported": False,
        "tf_import_s": 2.9,
        "tf_import_rss_mb": 589,
        "invoke_10k_ms": 150,
        "catalog_10k_ms": 149,
        "catalog_over_invoke": 0.99,
        "raw_dicts_10k_ms": 180,
    },
    "quant": {
        "movielens": [
            _quant_row("float32", 1.0),
            _quant_row("dynamic", 0.26),
            _quant_row("int8 (LayerNorm float)", 0.27),
            {"mode": "int16x8", "error": "cannot"},
        ],
        "criteo": "skipped",
    },
    "memory": {
        "runs": [
            {
                "train_rows": 4_000_000,
                "workers": 1,
                "examples_per_s": 40_000,
                "wall_s": 140.0,
                "peak_rss_mb": [1400.0],
                "encoded_cache_mib": 229.0,
                "valid_auc": 0.80,
                "generate_s": 18.0,
            },
            {
                "train_rows": 20_000_000,
                "workers": 1,
                "examples_per_s": 45_000,
                "wall_s": 560.0,
                "peak_rss_mb": [1450.0],
                "encoded_cache_mib": 1144.0,
                "valid_auc": 0.80,
                "generate_s": 70.0,
            },
            {"train_rows": 20_000_000, "workers": 2, "failed": "a worker failed (-6)"},
        ]
    },
    "quality": {
        "movielens/sermasknet": {
            "auc_mean": 0.7880,
            "auc_sd": 0.001,
            "valid_auc_mean": 0.78,
            "logloss_mean": 0.57,
            "examples_per_s": 11000,
            "best_epochs": [4, 3, 4],
            "seeds": 3,
            "peer_auc_mean": 0.7852,
            "peer_auc_sd": 0.003,
            "goal": 0.7872,
            "met": True,
        },
        "avazu/lr": {
            "auc_mean": 0.72,
            "auc_sd": 0.001,
            "valid_auc_mean": 0.73,
            "logloss_mean": 0.44,
            "examples_per_s": 90000,
            "best_epochs": [5, 5, 5],
            "seeds": 3,
            "peer_auc_mean": 0.7267,
            "peer_auc_sd": 0.0035,
            "goal": 0.7267,
            "met": False,
        },
    },
    "train_speed": {
        "examples_per_s": {"before": 15000.0, "after": 16000.0, "after, batch 1024": 15500.0},
        "batch_size_after": 1024,
        "dropout_after": 0.1,
    },
    "ablation": [
        {
            "data": d,
            "model": "sermasknet",
            "variant": v,
            "valid_auc": a,
            "test_auc": 0.7,
            "best_epochs": [3],
            "seeds": 1,
        }
        for d, v, a in [
            ("movielens", "defaults", 0.78),
            ("movielens", "batch 256", 0.77),
            ("avazu", "defaults", 0.70),
            ("avazu", "batch 256", 0.72),
        ]
    ],
    "reliability": {
        "fuzz": {"cases": 10, "scored": 6, "encode_error": 4, "candidates_scored": 20},
        "damage": {
            "truncated": 5,
            "truncated_rejected": 5,
            "flipped": 5,
            "flipped_rejected": 4,
            "flipped_loaded_and_verified": 1,
        },
        "soak": {
            "threads": 8,
            "requests": 8000,
            "mismatches": 0,
            "rss_before_mb": 50,
            "rss_after_10k_mb": 50,
        },
    },
}
META = {"date": "2026-11-29", "machine": "test machine", "seconds": 1.0, "sections": list(RESULTS)}


def test_render_all_sections():
    text = render(RESULTS, META)
    for heading in (
        "Encoder throughput",
        "Device runtime",
        "Quantization modes",
        "Training memory and scale",
        "Quality on real data against the reference",
        "Training throughput, before and after",
        "How the defaults were chosen",
    ):
        assert heading in text
    assert "Peak RSS at 5x the rows: 1.04x (goal <= 1.2x: met)." in text
    assert "The 2-worker run on 20,000,000 rows **failed**: `a worker failed (-6)`" in text
    assert "| movielens/sermasknet | 0.7880 ± 0.0010 | 0.7852 ± 0.0030 | +0.0028 | >= 0.7872 | met |" in text
    assert "| batch 256 | 0.745 | best |" in text and "| defaults | 0.74 |  |" in text
    assert "| avazu/lr | 0.7200 ± 0.0010 | 0.7267 ± 0.0035 | -0.0067 | >= 0.7267 | **not met** |" in text
    assert "**not met**" in text  # 9.5M < 10M values/s is reported as not met, not hidden
    assert "int16x8 |" in text and "cannot" in text
    rel = render_reliability(RESULTS, META)
    assert "10 seeded random requests" in rel and "0 other exceptions" in rel
    hostile = {
        "suites": {
            "tests/test_hostile.py": {
                "what": "bad input",
                "cases": 40,
                "passed": 39,
                "failed": 1,
                "skipped": 0,
            }
        },
        "exit_code": 1,
        "failing_with_traceback": 1,
    }
    rel = render_reliability({**RESULTS, "hostile": hostile}, META)
    assert "| `tests/test_hostile.py` | bad input | 40 | 39 | 1 | 0 |" in rel
    assert (
        "In all: 40 cases, 39 passed, 1 failed, 0 skipped; failing cases that printed a traceback: 1." in rel
    )


def test_the_runner_keeps_sections_written_by_standalone_benchmarks():
    from benchmarks.run_all import keep_standalone

    old = "x\n<!-- behaviour:begin -->\nB\n<!-- behaviour:end -->\n\n## Reliability\nr\n"
    new = "fresh\n\n## Reliability\nr\n"
    kept = keep_standalone(old, new)
    assert kept.index("fresh") < kept.index("<!-- behaviour:begin -->\nB\n") < kept.index("## Reliability")
    assert keep_standalone(kept, kept) == kept  # not duplicated
    assert keep_standalone("", new) == new
    # names with digits (a block named after bfloat16 was once dropped by a rerun of another section)
    old16 = "x\n<!-- mixed-bfloat16:begin -->\nM\n<!-- mixed-bfloat16:end -->\n\n## Reliability\nr\n"
    assert "<!-- mixed-bfloat16:begin -->\nM\n" in keep_standalone(old16, new)


def test_the_goals_table_stays_first_when_the_runner_rewrites_the_file():
    from benchmarks.run_all import keep_standalone

    old = "# B\n\nhead\n\n<!-- goals:begin -->\nG\n<!-- goals:end -->\n\n## Encoder\ne\n\n## Reliability\nr\n"
    new = "# B\n\nfresh head\n\n## Encoder\nE\n\n## Reliability\nr\n"
    kept = keep_standalone(old, new)
    assert kept.index("fresh head") < kept.index("<!-- goals:begin -->\nG\n") < kept.index("## Encoder\nE")
    assert keep_standalone(kept, kept) == kept


def test_the_runner_discovers_every_benchmark_module():
    """A bench_*.py module with SECTION, run and render is a section of `make bench`: no list to edit."""
    from benchmarks.run_all import discover

    sections = discover()
    # run alone (``--write``) and write their own marked sections
    standalone = {
        "bench_behaviour", "bench_behaviour_bound", "bench_codes", "bench_emulation", "bench_epoch",
        "bench_large_batch", "bench_sequence", "bench_suite", "bench_time_to_quality",
    }  # fmt: skip
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    modules = {p.stem for p in folder.glob("bench_*.py")} - standalone
    assert {m.__name__.rsplit(".", 1)[1] for m in sections.values()} == modules
    assert list(sections)[:2] == ["encoder", "jvm"] and list(sections)[-1] == "hostile"  # in ORDER
    for name, module in sections.items():
        assert callable(module.run)
        if name != "reliability":  # which renders RELIABILITY.md itself (render_document)
            assert module.render(None) == []  # a section that was not measured renders nothing


def test_the_suite_benchmark_runs_each_commits_own_test_command():
    from benchmarks.bench_suite import pytest_args

    root = Path(__file__).resolve().parents[1]
    assert pytest_args((root / "Makefile").read_text())[:1] == ["-q"]
    old = "test: lint\n\t$(PY) -m pytest -q $(PYTEST_ARGS)\n"
    assert pytest_args(old) == ["-q"]
    new = "TEST_WORKERS ?= 3\ntest: lint\n\t$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)\n"
    assert pytest_args(new) == ["-q", "-n", "3"]
    quoted = 'test: lint\n\t$(PY) -m pytest -q -m "not emulation" $(PYTEST_ARGS)\n'
    assert pytest_args(quoted) == ["-q", "-m", "not emulation"]  # as the shell reads it
    with pytest.raises(ValueError, match="no `\\$\\(PY\\) -m pytest` line"):
        pytest_args("test:\n\tpytest\n")
    from benchmarks.bench_suite import _FAILED

    out = "FAILED tests/a.py::t[args3-not an op type] - AssertionError: a - b\nFAILED tests/b.py::u\n"
    assert _FAILED.findall(out) == ["tests/a.py::t[args3-not an op type]", "tests/b.py::u"]


def test_a_standalone_section_replaces_its_old_text_or_goes_before_its_anchor(tmp_path):
    from benchmarks.common import write_marked_section

    doc = tmp_path / "B.md"
    doc.write_text("# B\n\n## Reliability\nr\n")
    write_marked_section(
        doc, "<!-- s:begin -->", "<!-- s:end -->", "<!-- s:begin -->\none\n<!-- s:end -->", "## Reliability"
    )
    assert doc.read_text() == "# B\n\n<!-- s:begin -->\none\n<!-- s:end -->\n\n## Reliability\nr\n"
    write_marked_section(
        doc, "<!-- s:begin -->", "<!-- s:end -->", "<!-- s:begin -->\ntwo\n<!-- s:end -->", "## Reliability"
    )
    assert doc.read_text().count("s:begin") == 1 and "two" in doc.read_text() and "one" not in doc.read_text()
    write_marked_section(
        doc, "<!-- t:begin -->", "<!-- t:end -->", "<!-- t:begin -->\nt\n<!-- t:end -->", "## Nowhere"
    )
    assert doc.read_text().endswith("r\n\n<!-- t:begin -->\nt\n<!-- t:end -->\n")


def test_the_peer_comparison_reports_the_difference_with_its_standard_error():
    from benchmarks.bench_peer import _side, compare, render

    ours = _side([0.72, 0.74], [0.70, 0.70])
    ref = _side([0.70, 0.71], [0.69, 0.69])
    row = compare(ours, ref, "sermasknet", {"auc_mean": 0.715, "auc_sd": 0.01})
    assert row["difference"] == pytest.approx(0.025)
    # sd 0.01414 and 0.00707 over 2 runs each: sqrt(0.0002/2 + 0.00005/2)
    assert row["difference_se"] == pytest.approx(0.0125**0.5 / 10, rel=1e-6)
    assert row["met"] and row["margin"] == 0.002
    short = compare(_side([0.7015, 0.7015], [0.7, 0.7]), ref, "sermasknet", None)
    assert not short["met"]  # +0.0010 is short of the MaskNet margin +0.002
    text = "\n".join(render({"avazu/sermasknet": row, "criteo/sermasknet": short}))
    assert "| avazu/sermasknet | 0.7300 ± 0.0141 (2) | 0.7050 ± 0.0071 (2) | +0.0250 ± 0.0112 |" in text
    assert "**not met**" in text


def test_the_peer_comparison_without_the_reference_python_says_why_and_keeps_earlier_figures(
    monkeypatch, capsys
):
    from types import SimpleNamespace

    from benchmarks import bench_peer
    from benchmarks.run_all import measure

    monkeypatch.delenv("MASKNET_FUXICTR_PYTHON", raising=False)
    assert bench_peer.run() is None
    assert "MASKNET_FUXICTR_PYTHON is not set" in capsys.readouterr().out
    assert bench_peer.render(None) == []
    earlier = {"avazu/lr": {"difference": 0.002}}
    results = {"peer": dict(earlier), "encoder": {"old": 1}}
    sections = {"peer": bench_peer, "encoder": SimpleNamespace(run=lambda: {"new": 2})}
    labels, replaced = measure(sections, ["peer", "encoder"], results)
    assert results == {"peer": earlier, "encoder": {"new": 2}}  # the peer rows stay
    assert labels == ["encoder"] and replaced == {"encoder"}  # and this run does not claim them


def test_a_partial_rerun_keeps_the_other_rows_and_a_failed_one_loses_none(capsys):
    from types import SimpleNamespace

    from benchmarks.run_all import measure

    def rerun(models=(), datasets=()):
        if "criteo" in datasets:
            raise RuntimeError("the reference failed")
        return {f"{d}/{m}": {"auc": 1} for d in datasets for m in models}

    part = SimpleNamespace(PARTIAL=True, run=rerun)
    whole = SimpleNamespace(run=lambda: {"x": 1})
    results = {"peer": {"avazu/lr": {"auc": 0}, "avazu/dnn": {"auc": 0}}}
    labels, replaced = measure({"peer": part, "jvm": whole}, ["peer", "jvm"], results, ("lr",), ("avazu",))
    assert results["peer"] == {"avazu/lr": {"auc": 1}, "avazu/dnn": {"auc": 0}}
    assert labels == ["peer (avazu, lr only)", "jvm"] and replaced == {"jvm"}  # jvm takes no --data
    labels, _ = measure({"peer": part}, ["peer"], results, ("lr",), ("criteo",))
    assert labels == [] and results["peer"]["avazu/dnn"] == {"auc": 0}
    assert "the reference failed" in capsys.readouterr().out


def test_the_peer_comparison_refuses_a_reference_run_that_lost_results(monkeypatch, tmp_path):
    import sys

    from benchmarks import bench_peer

    fake = tmp_path / "reference.py"
    fake.write_text('print(\'{"model": "lr", "seed": 0, "valid_auc": 0.7, "test_auc": 0.7}\')\n')
    monkeypatch.setattr(bench_peer, "REFERENCE_SCRIPT", fake)
    runs = bench_peer.reference_runs(sys.executable, tmp_path, tmp_path / "w", ("lr",), (0,))
    assert runs == [{"model": "lr", "seed": 0, "valid_auc": 0.7, "test_auc": 0.7}]
    with pytest.raises(RuntimeError, match=r"no result for \[\('lr', 1\)\]"):
        bench_peer.reference_runs(sys.executable, tmp_path, tmp_path / "w", ("lr",), (0, 1))
    fake.write_text("import sys; sys.exit('fuxictr is not installed')\n")
    with pytest.raises(RuntimeError, match="(?s)failed on .*fuxictr is not installed"):
        bench_peer.reference_runs(sys.executable, tmp_path, tmp_path / "w", ("lr",), (0,))
