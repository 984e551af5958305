"""Inputs that used to crash or give a silent wrong answer, and the reviewer's tables."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

import spondy_annotate.cli as cli
from spondy_annotate.analysis.analyze import analyze
from spondy_annotate.analysis.figures import crosstab_name, make_figures
from spondy_annotate.analysis.gradings import load_gradings, prepare_gradings
from spondy_annotate.analysis.pipeline import run_analysis
from spondy_annotate.analysis.results import AnalysisSettings
from spondy_annotate.errors import SpondyError
from spondy_annotate.labs.read import read_labs
from spondy_annotate.synthetic.cohort import synthetic_cohort, write_synthetic_cohort

COHORT = synthetic_cohort(0)
NO_BOOT = AnalysisSettings(bootstrap=0)


@pytest.fixture(scope="module")
def labs_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cohort(tmp_path_factory.mktemp("cohort"), seed=0)[0]


def small_gradings(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "case_id": ["k1", "k2"],
        "item": ["marrow_edema", "marrow_edema"],
        "change": ["improved", "aggravated"],
        "patient_id": ["P1", "P2"],
        "baseline_date": ["2020-01-01", "2020-02-01"],
        "followup_date": ["2020-03-01", "2020-04-01"],
    }
    return pd.DataFrame(base | columns)


def test_unreadable_gradings_dates_are_an_error_not_a_silent_drop() -> None:
    """``6/19/2019`` used to become a missing date: every case unlinked, exit 0."""
    table = small_gradings(baseline_date=["6/19/2019", "2020-02-01"])
    with pytest.raises(SpondyError, match=r"^gradings: data row 1: baseline_date: unparseable "):
        prepare_gradings(table)
    with pytest.raises(SpondyError, match="--gradings-date-format"):
        load_gradings(table)
    read = load_gradings(
        small_gradings(
            baseline_date=["6/19/2019", "2/1/2020"], followup_date=["8/1/2019", "4/1/2020"]
        ),
        date_format="%m/%d/%Y",
    )
    assert read["baseline_date"].tolist() == [
        pd.Timestamp("2019-06-19"),
        pd.Timestamp("2020-02-01"),
    ]
    blank = prepare_gradings(small_gradings(followup_date=["", "2020-04-01"]))[0]
    assert blank["followup_date"].isna().tolist() == [True, False]  # blank: missing, no error


@pytest.mark.parametrize(
    ("followup", "message"),
    [("2020-01-21", "42 days before"), ("2020-03-03", "on the same day as")],
)
def test_reversed_or_same_day_pairs_name_the_case(followup: str, message: str) -> None:
    table = small_gradings(
        baseline_date=["2020-01-01", "2020-03-03"], followup_date=["2020-03-01", followup]
    )
    with pytest.raises(SpondyError, match=rf"^gradings: case k2: follow-up MRI {message} the "):
        prepare_gradings(table)


def test_crp_only_labs_and_a_skipped_item_do_not_crash(tmp_path: Path) -> None:
    """A test without any classified case gives empty cross-tabs (pandas 2.x used to crash)."""
    path = tmp_path / "crp_only.csv"
    labs = pd.read_csv(write_synthetic_cohort(tmp_path / "in")[0])
    labs[labs["test"] == "CRP"].to_csv(path, index=False)
    result = analyze(COHORT.gradings, read_labs(path).values, NO_BOOT)
    esr = result.crosstabs[("ESR", "marrow_edema")]
    assert esr.to_numpy().sum() == 0 and esr.shape == (3, 3)
    assert list(esr.index) == ["resolved", "resolving", "aggravated"]
    assert (
        result.correlations.set_index(["reader", "test", "item"]).loc[
            ("reader_a", "ESR", "marrow_edema"), "n"
        ]
        == 0
    )
    assert len(make_figures(result)) == 10


def test_items_differing_in_punctuation_get_their_own_figure(labs_path: Path) -> None:
    assert crosstab_name("CRP", "disc height") != crosstab_name("CRP", "disc_height")
    assert crosstab_name("CRP", "disc_height") == "crosstab_CRP_disc_height.png"
    gradings = COHORT.gradings.copy()
    gradings.loc[gradings["item"] == "marrow_edema", "item"] = "disc height"
    result = analyze(gradings, read_labs(labs_path).values, NO_BOOT)
    figures = make_figures(result)
    assert crosstab_name("CRP", "disc height") in figures
    assert (
        figures[crosstab_name("CRP", "disc height")] != figures[crosstab_name("CRP", "disc_height")]
    )


@pytest.mark.slow
def test_dollar_signs_in_names_are_drawn_as_text(labs_path: Path, tmp_path: Path) -> None:
    """A ``$`` used to start mathtext and crash half-way through writing the report."""
    gradings = COHORT.gradings.copy()
    gradings["reader"] = gradings["reader"].map({"reader_a": r"Dr $\foo$", "reader_b": "B $x^$"})
    gradings.loc[gradings["item"] == "marrow_edema", "item"] = "edema $_"
    run = run_analysis(gradings, [labs_path], settings=NO_BOOT, out=tmp_path / "out")
    assert run.report is not None and len(run.report.figures) == 20


def test_provenance_and_data_dictionary(labs_path: Path, tmp_path: Path) -> None:
    grads = tmp_path / "gradings.csv"
    COHORT.gradings.to_csv(grads, index=False)
    out = tmp_path / "out"
    assert cli.main(["analyze", "--gradings", str(grads), "--labs", str(labs_path),
                     "--bootstrap", "0", "--crp-unit", "mg/dL", "--out", str(out)]) == 0  # fmt: skip
    settings = json.loads((out / "settings.json").read_text())
    sha = {f["name"]: f["sha256"] for f in settings["inputs"]}
    assert sha == {
        "gradings.csv": hashlib.sha256(grads.read_bytes()).hexdigest(),
        labs_path.name: hashlib.sha256(labs_path.read_bytes()).hexdigest(),
    }
    assert settings["command"].startswith("spondy-annotate analyze --gradings gradings.csv ")
    assert "--crp-unit mg/dL" in settings["command"] and str(tmp_path) not in settings["command"]
    assert settings["options"]["lab columns"].startswith("long form")
    assert settings["statistics"]["ci_method"] == "Fisher z, Bonett-Wright SE"
    assert settings["rng"].endswith("seed 0") and settings["started_at"]
    assert {"numpy", "scipy", "pandas"} <= set(settings["software"])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert sha["gradings.csv"] in page and "Data dictionary" in page
    # every column of every CSV table is described
    dictionary = pd.read_csv(out / "data_dictionary.csv", keep_default_na=False)
    described = set(zip(dictionary["file"], dictionary["column"], strict=True))
    for table in out.glob("*.csv"):
        columns = pd.read_csv(table, nrows=0).columns
        assert {(table.name, c) for c in columns} <= described, table.name
    assert (dictionary["meaning"] != "").all()


def test_reviewer_tables_on_the_cohort(labs_path: Path) -> None:
    result = analyze(COHORT.gradings, read_labs(labs_path).values, NO_BOOT)
    days = (
        COHORT.gradings.drop_duplicates("case_id")
        .pipe(lambda t: pd.to_datetime(t["followup_date"]) - pd.to_datetime(t["baseline_date"]))
        .dt.days
    )
    interval = result.interval.iloc[0]
    assert interval["n"] == 48
    assert interval["mean"] == pytest.approx(days.mean(), abs=1e-12)
    assert interval["sd"] == pytest.approx(days.std(), abs=1e-12)
    assert interval["median"] == days.median() and interval["min"] == days.min()
    values = result.lab_values.set_index(["test", "lab_class"])
    assert values.loc[("CRP", "resolved"), "n"] == 19
    crp = result.labs[(result.labs["test"] == "CRP") & (result.labs["lab_class"] == "resolved")]
    assert values.loc[("CRP", "resolved"), "followup_median"] == crp["followup_value"].median()
    flow = result.flow
    assert flow.loc[flow["step"] == "classified", "cases"].tolist() == [48, 48]
    assert (flow.loc[flow["step"] == "analysed", "cases"] == 48).all()
    sens = result.sensitivity
    main = sens[sens["main"]]
    primary = result.correlations[result.correlations["primary"]].set_index(["test", "item"])
    for row in main.itertuples():
        assert row.rho == pytest.approx(primary.loc[(row.test, row.item), "rho"], abs=1e-12)
    assert set(sens["setting"]) >= {
        "link window (days before/after)", "CRP normal limit (mg/L)",
        "ESR normal limit (mm/h)", "unchanged value above normal counted as",
    }  # fmt: skip


def test_measured_disc_height_and_grade_consistency(labs_path: Path) -> None:
    gradings = COHORT.gradings.copy()
    case_number = gradings["case_id"].astype(int)
    gradings["baseline_disc_height_mm"] = 10.0
    gradings["followup_disc_height_mm"] = 10.0 - (case_number % 5)  # 0 to 4 mm lost
    gradings["baseline_grade"] = 1
    gradings["followup_grade"] = gradings["change"].map(
        {"improved": 0, "unchanged": 1, "aggravated": 2}
    )
    gradings.loc[gradings.index[0], "followup_grade"] = 1  # one judgement against the grades
    result = analyze(gradings, read_labs(labs_path).values, NO_BOOT)
    disc = result.disc_height
    assert len(disc) == 48 * 2
    row = disc[(disc["case_id"] == "3") & (disc["reader"] == "reader_a")].iloc[0]
    assert (row["disc_height_change_mm"], row["disc_height_change_pct"]) == (-3.0, -30.0)
    corr = result.disc_height_correlations
    assert set(corr["item"]) == {"disc_height_change_mm", "disc_height_change_pct"}
    assert (corr["n"] == 48).all() and corr["p_exact_method"].isin(["exact", "monte carlo"]).all()
    consistency = result.grade_consistency.set_index(["reader", "item"])
    first = gradings.iloc[0]
    row = consistency.loc[(first["reader"], first["item"])]
    assert row["n"] == 48 and row["consistent"] == 47
    others = consistency.drop(index=(first["reader"], first["item"]))
    assert (others["consistent"] == 48).all()


def test_gradings_file_date_format(labs_path: Path, tmp_path: Path) -> None:
    """A gradings file with US dates is refused by default and read with the stated format."""
    g = COHORT.gradings.copy()
    for c in ("baseline_date", "followup_date"):
        g[c] = pd.to_datetime(g[c]).dt.strftime("%m/%d/%Y")
    path = tmp_path / "g.csv"
    g.to_csv(path, index=False)
    with pytest.raises(SpondyError, match="unparseable date"):
        run_analysis(path, [labs_path], settings=NO_BOOT, figures=False)
    run = run_analysis(
        path, [labs_path], settings=NO_BOOT, figures=False, gradings_date_format="%m/%d/%Y"
    )
    assert run.result.link.missing.empty


def test_analysis_csvs_neutralise_formula_cells(labs_path: Path, tmp_path: Path) -> None:
    """A reader name a spreadsheet would evaluate is written as text in every table."""
    gradings = COHORT.gradings.replace({"reader": {"reader_b": "=cmd|'/c calc'!A1"}})
    run_analysis(gradings, [labs_path], settings=NO_BOOT, figures=False, out=tmp_path / "out")
    texts = {p.name: p.read_text() for p in (tmp_path / "out").glob("*.csv")}
    assert any("'=cmd" in text for text in texts.values())
    assert not any(",=cmd" in text or "\n=cmd" in text for text in texts.values())
