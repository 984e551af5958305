"""The analyze command end to end: CLI exit codes, CSV/PNG/HTML outputs, de-identification."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import spondy_annotate.cli as cli
from spondy_annotate.analysis.analyze import analyze
from spondy_annotate.analysis.figures import crosstab_figure, figure_png
from spondy_annotate.analysis.report_files import write_report
from spondy_annotate.analysis.results import AnalysisSettings
from spondy_annotate.analysis.summary import format_summary
from spondy_annotate.labs.read import read_labs
from spondy_annotate.synthetic.cohort import synthetic_cohort, write_synthetic_cohort

PNG = b"\x89PNG\r\n\x1a\n"
COHORT = synthetic_cohort(0)
PATIENT_IDS = sorted(COHORT.truth["patient_id"])
# every MRI and lab date of the cohort, as written in the inputs and as ISO dates
DATES = sorted(
    {d for col in ("baseline_date", "followup_date") for d in COHORT.gradings[col]}
    | {
        pd.Timestamp(d).strftime("%Y-%m-%d")
        for col in ("baseline_date", "followup_date")
        for d in COHORT.gradings[col]
    }
    | set(COHORT.labs["date"])
)
BAD_ROWS = [
    ("{pid},2020-01-01,CRP,-3,mg/L", "value: negative CRP value"),
    ("{pid},2020-13-01,ESR,30,mm/h", "date: unparseable date (expected YYYY-MM-DD or YYYYMMDD)"),
    ("{pid},2020-01-01,WBC,9,G/L", "test: unknown test (expected CRP or ESR)"),
]


@pytest.fixture(autouse=True)
def only_analyze(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register only this subcommand, so other subcommands' modules do not matter here."""
    monkeypatch.setattr(cli, "COMMANDS", ("analyze",))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Clean lab file, lab file with bad rows appended, gradings file."""
    folder = tmp_path_factory.mktemp("inputs")
    labs, grads = write_synthetic_cohort(folder, seed=0)
    bad = folder / "labs_bad.csv"
    text = labs.read_text()
    bad.write_text(text + "".join(r.format(pid=PATIENT_IDS[0]) + "\n" for r, _ in BAD_ROWS))
    return labs, bad, grads


def run_cli(*argv: str) -> int:
    return cli.main(["analyze", *argv])


def all_output_text(folder: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("latin-1") for p in sorted(folder.rglob("*")) if p.is_file()
    )


def assert_no_identifiers(text: str) -> None:
    leaked = [s for s in [*PATIENT_IDS, *DATES] if s in text]
    assert not leaked, leaked[:5]


@pytest.mark.slow
def test_end_to_end_with_rejected_rows(
    inputs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, bad_labs, grads = inputs
    out = tmp_path / "out"
    status = run_cli(
        "--gradings", str(grads), "--labs", str(bad_labs), "--out", str(out), "--bootstrap", "50"
    )
    captured = capsys.readouterr()
    assert status == 3  # analysis done, lab rows rejected
    n_lines = len(bad_labs.read_text().splitlines())
    first_bad = n_lines - len(BAD_ROWS) + 1
    assert captured.err.splitlines() == [
        f"labs_bad.csv:{first_bad + i}: {message}" for i, (_, message) in enumerate(BAD_ROWS)
    ]
    # the good rows are still used: the paper's counts in the terminal table
    assert re.search(r"^CRP\s+19\s+19\s+10\s+1\s+0\s+19/19/10$", captured.out, re.M)
    assert re.search(r"^ESR\s+8\s+22\s+18\s+0\s+0\s+8/22/18$", captured.out, re.M)
    assert "3 lab row(s) or cell(s) rejected" in captured.out
    assert_no_identifiers(captured.out + captured.err)

    tables = {p.name for p in out.glob("*.csv")}
    assert tables == {
        "correlations.csv", "class_counts.csv", "crosstabs.csv", "kappa.csv",
        "analysis_dataset.csv", "lab_classes.csv", "lab_draws.csv", "unlinked_labs.csv",
        "lab_problems.csv", "interval.csv", "lab_values.csv", "flow.csv", "disc_height.csv",
        "disc_height_correlations.csv", "grade_consistency.csv", "sensitivity.csv",
        "data_dictionary.csv", "agreement.csv",
    }  # fmt: skip
    problems = pd.read_csv(out / "lab_problems.csv")
    assert problems["line"].tolist() == [first_bad, first_bad + 1, first_bad + 2]
    assert set(problems["file"]) == {"labs_bad.csv"}  # the name, not the path
    assert problems["column"].tolist() == ["value", "date", "test"]
    html = (out / "report.html").read_text(encoding="utf-8")
    listed = html.split("<h2>Rejected lab rows</h2>")[1].split("<h2>")[0]
    assert f"labs_bad.csv:{first_bad + 2}: test: unknown test (expected CRP or ESR)" in listed
    for cell in ("2020-13-01", "WBC", "-3", str(bad_labs.parent)):  # no rejected cell, no folder
        assert cell not in (out / "lab_problems.csv").read_text() + listed
    assert str(bad_labs.parent) not in all_output_text(out)
    corr = pd.read_csv(out / "correlations.csv")
    assert {"reader", "test", "item", "n", "rho", "p", "ci_low", "ci_high"} <= set(corr.columns)
    dataset = pd.read_csv(out / "analysis_dataset.csv")
    assert len(dataset) == 48 * 2 * 3
    assert "patient_id" not in dataset.columns
    draws = pd.read_csv(out / "lab_draws.csv")
    assert len(draws) == 48 * 2 * 2 and draws["offset_days"].between(-7, 3).all()
    assert "draw_date" not in draws.columns and (draws["file"] == "labs_bad.csv").all()

    figures = sorted((out / "figures").glob("*.png"))
    # cross-tab per test x item, trajectory per test, forest plot, patient flow
    assert len(figures) == 2 * 3 + 2 + 2
    for fig in figures:
        data = fig.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, fig.name
        assert struct.unpack(">II", data[16:24])[0] >= 4 * 300  # 300 dpi, 4 inches or more
        svg = fig.with_suffix(".svg").read_text(encoding="utf-8")
        assert "<svg" in svg
    assert not list(out.rglob(".*.tmp"))  # atomic writes leave no temporary files
    assert_no_identifiers(all_output_text(out))


@pytest.mark.slow
def test_html_report_is_self_contained(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    labs, _, grads = inputs
    out = tmp_path / "out"
    assert (
        run_cli(
            "--gradings", str(grads), "--labs", str(labs), "--out", str(out), "--bootstrap", "50"
        )
        == 0
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//|file:)""", page, re.I)
    for forbidden in ("<script", "<link", "@import", "url("):
        assert forbidden not in page.lower()
    sources = re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)
    assert len(sources) == 10
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG)
    for text in (
        "Methods", "7 days before to 3 days after", "CRP &lt;= 5 mg/L", "ESR &lt;= 20 mm/h",
        "improved = 0", "resolved = 0", "50 resamples", "seed 0",
        "linear weights", "scipy", "Cross-tabulations", "Inter-reader agreement",
        "Unchanged lab values",
    ):  # fmt: skip
        assert text in page, text
    assert_no_identifiers(page)


@pytest.mark.slow
def test_include_identifiers_only_in_the_per_case_tables(
    inputs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    labs, _, grads = inputs
    out = tmp_path / "out"
    status = run_cli(
        "--gradings", str(grads), "--labs", str(labs), "--out", str(out), "--bootstrap", "0",
        "--include-identifiers",
    )  # fmt: skip
    assert status == 0
    dataset = pd.read_csv(out / "analysis_dataset.csv", dtype=str)
    assert set(dataset["patient_id"]) == set(PATIENT_IDS)
    assert {"baseline_date", "followup_date", "CRP_baseline_draw_date"} <= set(dataset.columns)
    draws = pd.read_csv(out / "lab_draws.csv")
    assert {"draw_date", "mri_date", "file", "line", "offset_days"} <= set(draws.columns)
    assert set(pd.read_csv(out / "unlinked_labs.csv").columns) >= {"case_id", "patient_id"}
    assert_no_identifiers((out / "report.html").read_text(encoding="utf-8"))
    assert_no_identifiers((out / "correlations.csv").read_text())


def test_cli_options_reach_the_analysis(
    inputs: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    labs, _, grads = inputs
    status = run_cli(
        "--gradings", str(grads), "--labs", str(labs), "--bootstrap", "0",
        "--unchanged-as", "resolving", "--crp-normal", "4.9", "--window-before", "0",
        "--window-after", "0", "--primary-reader", "reader_b", "--kappa-weights", "quadratic",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    assert "unchanged counted as resolving" in out and "CRP <= 4.9 mg/L" in out
    assert "linked within 0 days before to 0 days after" in out
    assert "primary reader reader_b" in out and "quadratic" in out
    assert "No usable lab value" in out  # most draws are off the MRI day


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gradings", "{grads}", "--labs", "{missing}"], "no such file"),
        (["--gradings", "{missing}", "--labs", "{labs}"], "no such gradings file"),
        (
            ["--gradings", "{grads}", "--labs", "{labs}", "--labs-map", "foo=x"],
            "unknown lab column",
        ),
        (
            ["--gradings", "{grads}", "--labs", "{labs}", "--primary-reader", "zz"],
            "no reader named",
        ),
        (["--db", "{missing}", "--labs", "{labs}"], "no such grading database"),
    ],
)
def test_fatal_errors_are_one_line_exit_1(
    inputs: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    labs, _, grads = inputs
    names = {"grads": grads, "labs": labs, "missing": tmp_path / "missing.csv"}
    assert run_cli(*(a.format(**names) for a in argv)) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("spondy-annotate: error: ") and message in err
    assert "Traceback" not in err


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run_cli("--gradings", "g.csv")  # --labs missing
    assert info.value.code == 2


@pytest.fixture(scope="module")
def graded_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The cohort's gradings in a grading database, and the store's case ID of each cohort case."""
    from spondy_annotate.grading.rubric_toml import load_rubric
    from spondy_annotate.grading.store import Store

    db = tmp_path_factory.mktemp("db") / "gradings.sqlite"
    store = Store(db)
    rubric = load_rubric("ahn2020")
    case_ids = {
        row.case_id: store.register_case(
            row.patient_id, f"1.2.3.{row.case_id}.1", row.baseline_date,
            f"1.2.3.{row.case_id}.2", row.followup_date,
        )
        for row in COHORT.gradings.drop_duplicates("case_id").itertuples()
    }  # fmt: skip
    sessions = {
        r: store.start_session(r, rubric=rubric) for r in COHORT.gradings["reader"].unique()
    }
    for row in COHORT.gradings.itertuples():
        store.record_answer(
            sessions[row.reader], case_ids[row.case_id], f"{row.item}.change", row.change
        )
    store.close()
    return db, case_ids


@pytest.mark.slow
def test_db_source(
    inputs: tuple[Path, Path, Path],
    graded_db: tuple[Path, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--db`` reads the gradings through export.gradings_table (pseudonymous case IDs)."""
    labs, _, _ = inputs
    db, case_ids = graded_db
    out = tmp_path / "out"
    assert run_cli("--db", str(db), "--labs", str(labs), "--bootstrap", "0", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^CRP\s+19\s+19\s+10\s+1\s+0", printed, re.M)
    dataset = pd.read_csv(out / "analysis_dataset.csv", dtype=str)
    assert set(dataset["case_id"]) == set(case_ids.values())  # the database's pseudonyms
    assert_no_identifiers(all_output_text(out))


@pytest.mark.parametrize("ext", [".csv", ".xlsx", ".parquet"])
def test_exported_table_analyses_like_the_database(
    inputs: tuple[Path, Path, Path],
    graded_db: tuple[Path, dict[str, str]],
    tmp_path: Path,
    ext: str,
) -> None:
    """``export --include-identifiers`` then ``analyze --gradings`` equals ``analyze --db``."""
    from spondy_annotate.analysis.pipeline import run_analysis
    from spondy_annotate.grading.export import export_gradings

    labs, _, _ = inputs
    db, case_ids = graded_db
    table = tmp_path / f"gradings{ext}"
    export_gradings(db, table, include_identifiers=True)
    settings = AnalysisSettings(bootstrap=0)
    from_db = run_analysis(db, [labs], settings=settings, figures=False).result
    from_file = run_analysis(table, [labs], settings=settings, figures=False).result
    assert set(from_file.dataset["case_id"]) == set(case_ids.values())
    pd.testing.assert_frame_equal(from_file.dataset, from_db.dataset)
    pd.testing.assert_frame_equal(from_file.correlations, from_db.correlations)


@pytest.mark.slow
def test_write_report_replaces_files_and_returns_paths(tmp_path: Path) -> None:
    labs = read_labs(write_synthetic_cohort(tmp_path / "in")[0])
    result = analyze(COHORT.gradings, labs.values, AnalysisSettings(bootstrap=0))
    first = write_report(result, tmp_path / "out")
    second = write_report(result, tmp_path / "out")
    assert first.html == second.html == tmp_path / "out" / "report.html"
    assert all(p.stat().st_size > 0 for p in (*second.tables, *second.figures, second.html))
    assert (tmp_path / "out" / "settings.json") in second.tables
    summary = format_summary(result)
    assert "reader_a (primary)" in summary
    assert_no_identifiers(summary)


def test_figure_helpers_render_png() -> None:
    table = pd.DataFrame(
        [[3, 1, 0], [1, 2, 1], [0, 1, 4]],
        index=pd.Index(["resolved", "resolving", "aggravated"], name="CRP class"),
        columns=pd.Index(["improved", "unchanged", "aggravated"], name="change"),
    )
    fig = crosstab_figure(table, title="CRP class vs marrow_edema")
    image = fig.axes[0].images[0].get_array()
    assert image is not None and image.sum() == 13
    assert figure_png(fig).startswith(PNG)


def test_core_stays_headless() -> None:
    code = (
        "import sys, spondy_annotate.analysis.pipeline, spondy_annotate.cli.analyze_cmd, "
        "spondy_annotate.synthetic.cohort\n"
        "from spondy_annotate.analysis.figures import figure_png, trajectory_figure\n"
        "import pandas as pd\n"
        "figure_png(trajectory_figure(pd.DataFrame(columns=['test','baseline_value',"
        "'followup_value','lab_class']), 'CRP', 5.0))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'napari','qtpy','PyQt5','PyQt6','PySide2','PySide6','magicgui','superqt'}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ run_analysis


@pytest.mark.slow
def test_run_analysis_returns_everything_the_front_ends_show(
    inputs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """One call gives the result, summary, figures, rejected rows and the files written."""
    from spondy_annotate.analysis.pipeline import run_analysis

    _, bad_labs, grads = inputs
    run = run_analysis(grads, [bad_labs], settings=AnalysisSettings(bootstrap=0), out=tmp_path)
    assert [p.line for p in run.lab_problems] == pd.read_csv(tmp_path / "lab_problems.csv")[
        "line"
    ].tolist()
    assert len(run.lab_problems) == len(BAD_ROWS)
    assert "3 lab row(s) or cell(s) rejected:" in run.summary
    assert f"  labs_bad.csv:{run.lab_problems[0].line}: value: negative CRP value" in run.summary
    assert run.report is not None and run.report.html == tmp_path / "report.html"
    # the figures shown are the figures written (and their SVG), drawn once
    written = {p.name: p.read_bytes() for p in run.report.figures}
    assert {n: d for n, d in written.items() if n.endswith(".png")} == run.figures
    assert {n.removesuffix(".svg") for n in written if n.endswith(".svg")} == {
        n.removesuffix(".png") for n in run.figures
    }
    assert set(run.result.dataset["case_id"]) == {str(i) for i in range(1, 49)}


def test_run_analysis_without_report(inputs: tuple[Path, Path, Path]) -> None:
    from spondy_annotate.analysis.pipeline import run_analysis

    labs, _, _ = inputs
    settings = AnalysisSettings(bootstrap=0)
    run = run_analysis(COHORT.gradings, [labs], settings=settings, figures=False)
    assert run.report is None and run.figures == {} and run.lab_problems == ()
    shown = run_analysis(COHORT.gradings, [labs], settings=settings)
    assert len(shown.figures) == 10 and all(png.startswith(PNG) for png in shown.figures.values())
    assert shown.summary == run.summary


@pytest.mark.slow
def test_run_analysis_errors(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from spondy_annotate.analysis.pipeline import run_analysis
    from spondy_annotate.errors import SpondyError

    labs, _, grads = inputs
    with pytest.raises(SpondyError, match="^no lab file given$"):
        run_analysis(grads, [])
    with pytest.raises(SpondyError, match="no such grading database"):
        run_analysis(grads.with_suffix(".sqlite"), [labs])
    blocked = tmp_path / "file"
    blocked.write_text("a file where the report folder should be")
    with pytest.raises(SpondyError, match=r"file: is a file, not a folder \(give the report"):
        run_analysis(grads, [labs], settings=AnalysisSettings(bootstrap=0), out=blocked)
    with pytest.raises(
        SpondyError, match=r"file/out/figures: cannot make the report folder \(Not a"
    ):
        run_analysis(grads, [labs], settings=AnalysisSettings(bootstrap=0), out=blocked / "out")
