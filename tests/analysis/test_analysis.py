"""Statistics against hand-worked values, gradings handling, and the synthetic 48-patient cohort."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as t_dist

from spondy_annotate.analysis.analyze import analyze
from spondy_annotate.analysis.gradings import load_gradings, prepare_gradings
from spondy_annotate.analysis.results import AnalysisResult, AnalysisSettings
from spondy_annotate.analysis.stats import spearman, weighted_kappa
from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.export import read_gradings
from spondy_annotate.labs.classify import ClassificationSettings, LabClass
from spondy_annotate.labs.read import read_labs
from spondy_annotate.synthetic.cohort import synthetic_cohort

# ------------------------------------------------------------------------------ by hand


def average_ranks(values: list[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their positions."""
    order = sorted(values)
    return [sum(i + 1 for i, o in enumerate(order) if o == v) / order.count(v) for v in values]


def pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def hand_spearman(x: list[float], y: list[float]) -> tuple[float, float]:
    rho = pearson(average_ranks(x), average_ranks(y))
    n = len(x)
    t = rho * math.sqrt((n - 2) / (1 - rho**2))
    return rho, 2 * t_dist.sf(abs(t), n - 2)


def hand_kappa(a: list[int], b: list[int], k: int = 3, power: int = 1) -> float:
    n = len(a)
    observed = [[0.0] * k for _ in range(k)]
    for i, j in zip(a, b, strict=True):
        observed[i][j] += 1 / n
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    weight = [[(abs(i - j) / (k - 1)) ** power for j in range(k)] for i in range(k)]
    disagree_obs = sum(weight[i][j] * observed[i][j] for i in range(k) for j in range(k))
    disagree_exp = sum(weight[i][j] * rows[i] * cols[j] for i in range(k) for j in range(k))
    return 1 - disagree_obs / disagree_exp


def test_spearman_without_ties_textbook_value() -> None:
    # d = (-1, 1, -1, 1, 0): rho = 1 - 6 * 4 / (5 * 24) = 0.8
    res = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], n_boot=0)
    assert res.rho == pytest.approx(0.8)
    assert res.n == 5
    assert math.isnan(res.boot_low) and res.n_boot_valid == 0  # no bootstrap asked


@pytest.mark.parametrize(
    ("x", "y"),
    [
        # ordinal codes with many ties, as in the study
        ([0, 0, 0, 1, 1, 1, 2, 2, 0, 1], [0, 1, 0, 1, 2, 1, 2, 1, 0, 0]),
        ([2, 2, 1, 0, 0, 1, 2, 0, 1, 1, 2, 0], [1, 2, 1, 0, 1, 1, 2, 0, 0, 2, 2, 1]),
        ([0, 1, 2, 0, 1, 2], [2, 1, 0, 1, 1, 1]),  # negative
    ],
)
def test_spearman_with_ties_matches_hand_computation(x: list[int], y: list[int]) -> None:
    rho, p = hand_spearman([float(v) for v in x], [float(v) for v in y])
    res = spearman(x, y, n_boot=0)
    assert res.rho == pytest.approx(rho, abs=1e-12)
    assert res.p == pytest.approx(p, rel=1e-9)


def test_spearman_undefined_cases() -> None:
    assert math.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4]).rho)
    assert math.isnan(spearman([1, 2], [1, 2]).rho)


def test_bootstrap_interval_is_seeded_and_brackets_rho() -> None:
    x = [0, 0, 0, 1, 1, 1, 2, 2, 0, 1, 2, 2, 1, 0, 2]
    y = [0, 1, 0, 1, 2, 1, 2, 1, 0, 0, 2, 1, 1, 0, 2]
    a = spearman(x, y, n_boot=300, seed=7)
    b = spearman(x, y, n_boot=300, seed=7)
    c = spearman(x, y, n_boot=300, seed=8)
    assert (a.boot_low, a.boot_high) == (b.boot_low, b.boot_high)
    assert (a.boot_low, a.boot_high) != (c.boot_low, c.boot_high)
    assert -1 <= a.boot_low < a.rho < a.boot_high <= 1
    assert 0 < a.n_boot_valid <= 300


def test_bootstrap_matches_a_plain_loop() -> None:
    """The vectorised percentile bootstrap equals resampling one pair set at a time.

    The pairs are resampled in their canonical order (sorted by x, then y).
    """
    from scipy.stats import spearmanr

    x = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], dtype=float)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 2, 1, 1, 2, 2], dtype=float)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(x), size=(200, len(x)))
    rhos = [spearmanr(x[i], y[i]).statistic for i in idx if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0]
    low, high = np.quantile(rhos, [0.025, 0.975])
    shuffled = np.random.default_rng(0).permutation(len(x))
    res = spearman(x[shuffled], y[shuffled], n_boot=200, seed=3)
    assert res.n_boot_valid == len(rhos)
    assert (res.boot_low, res.boot_high) == pytest.approx((low, high), abs=1e-12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0, 1, 2, 2, 1, 0, 1, 2], [0, 2, 2, 1, 1, 0, 0, 2]),
        ([1, 1, 1, 2, 2, 1, 1, 2, 1], [1, 2, 1, 2, 2, 1, 0, 2, 1]),
        ([0, 0, 1, 1, 0, 1], [1, 1, 1, 1, 0, 1]),  # category 2 unused by both
    ],
)
@pytest.mark.parametrize(("weights", "power"), [("linear", 1), ("quadratic", 2)])
def test_weighted_kappa_matches_confusion_matrix_formula(
    a: list[int], b: list[int], weights: str, power: int
) -> None:
    expected = hand_kappa(a, b, power=power)
    assert weighted_kappa(a, b, weights=weights) == pytest.approx(expected, abs=1e-12)  # type: ignore[arg-type]


def test_weighted_kappa_simple_values() -> None:
    assert weighted_kappa([0, 1, 2], [0, 1, 2]) == pytest.approx(1.0)
    assert math.isnan(weighted_kappa([1, 1, 1], [1, 1, 1]))
    assert math.isnan(weighted_kappa([], []))


# ------------------------------------------------------------------------------ gradings


def gradings(**overrides: object) -> pd.DataFrame:
    base = {
        "case_id": ["k1", "k1", "k2"],
        "reader": ["A", "A", "A"],
        "item": ["marrow_edema", "disc_height", "marrow_edema"],
        "change": ["Improved", "unchanged", "aggravated"],
        "patient_id": ["P1", "P1", "P2"],
        "baseline_date": ["20200101", "20200101", "2020-02-01"],
        "followup_date": ["20200301", "20200301", "2020-04-01"],
    }
    base.update(overrides)  # type: ignore[arg-type]
    return pd.DataFrame(base)


def test_prepare_gradings_codes_changes() -> None:
    g, notes = prepare_gradings(gradings())
    assert g["mri_code"].tolist() == [0, 1, 2]
    assert g["change"].tolist() == ["improved", "unchanged", "aggravated"]
    assert g["case_id"].tolist() == ["k1", "k1", "k2"]
    assert notes == ()


def test_prepare_gradings_rejects_unknown_labels_and_missing_columns() -> None:
    with pytest.raises(SpondyError, match="unknown change label.*'better'"):
        prepare_gradings(gradings(change=["better", "unchanged", "aggravated"]))
    with pytest.raises(SpondyError, match="lack column.*patient_id"):
        prepare_gradings(gradings().drop(columns="patient_id"))


def test_prepare_gradings_leaves_out_unjudged_and_merges_levels() -> None:
    g = gradings(
        change=["", "unchanged", "aggravated"],
    )
    extra = pd.DataFrame(
        [
            {
                "case_id": "k2", "reader": "A", "item": "marrow_edema", "change": "improved",
                "patient_id": "P2", "baseline_date": "20200201", "followup_date": "20200401",
                "level": "L2-L3",
            }
        ]
    )  # fmt: skip
    prepared, notes = prepare_gradings(pd.concat([g.assign(level="L4-L5"), extra]))
    assert len(prepared) == 2
    assert prepared.set_index("case_id").loc["k2", "change"] == "aggravated"  # worst level
    assert any("without a change judgement" in n for n in notes)
    assert any("worst change" in n for n in notes)


def test_case_ids_are_kept_as_given() -> None:
    """The store's pseudonyms are never replaced, even one that happens to hold its patient ID."""
    ids = gradings(case_id=["C-7F3A91", "C-7F3A91", "C-20A101"], patient_id=["7F", "7F", "P2"])
    prepared, notes = prepare_gradings(ids)
    assert prepared["case_id"].tolist() == ["C-7F3A91", "C-7F3A91", "C-20A101"]
    assert notes == ()


@pytest.mark.parametrize(
    "case_ids", [["P1-x", "P1-x", "k2"], ["k1", "k1", "x-20200201"], ["k1", "k1", "x-200401"]]
)
def test_case_ids_holding_identifiers_are_refused(case_ids: list[str]) -> None:
    """A hand-made case ID with the patient ID or an MRI date would identify the patient."""
    with pytest.raises(SpondyError, match=r"^gradings: 1 case ID\(s\) hold their patient ID"):
        prepare_gradings(gradings(case_id=case_ids))


def test_gradings_need_case_ids() -> None:
    with pytest.raises(SpondyError, match="lack column.*case_id"):
        prepare_gradings(gradings().drop(columns="case_id"))
    with pytest.raises(SpondyError, match=r"^gradings: 1 grading\(s\) without a case ID$"):
        prepare_gradings(gradings(case_id=["k1", "k1", " "]))
    with pytest.raises(SpondyError, match="belong to more than one patient"):
        prepare_gradings(gradings(case_id=["k1", "k1", "k1"]))


def test_store_pseudonyms_survive_the_analysis_intake(tmp_path: Path) -> None:
    """Gradings from a database keep the store's case IDs, whatever the patient IDs look like."""
    from spondy_annotate.grading.rubric_toml import default_rubric
    from spondy_annotate.grading.store import Store

    db = tmp_path / "project.sqlite"
    with Store(db) as store:
        session = store.start_session("A", rubric=default_rubric())
        for i in range(200):  # until a pseudonym holds its own (one hex digit) patient ID
            patient = "0123456789ABCDEF"[i % 16]
            case = store.register_case(patient, f"1.{i}.1", "2020-01-01", f"1.{i}.2", "2020-03-01")
            if patient in case.removeprefix("C-"):
                break
        store.record_answer(session, case, "marrow_edema.change", "improved")
    table = load_gradings(db)
    assert set(table["case_id"]) == {case}
    prepared, _ = prepare_gradings(table)
    assert prepared["case_id"].tolist() == [case]
    assert prepared["patient_id"].tolist() == [patient]


def test_load_gradings_errors(tmp_path: Path) -> None:
    with pytest.raises(SpondyError, match="no such gradings file"):
        load_gradings(tmp_path / "none.csv")
    with pytest.raises(SpondyError, match="no such grading database"):
        load_gradings(tmp_path / "none.csv", database=True)
    with pytest.raises(SpondyError, match="no such grading database"):
        load_gradings(tmp_path / "none.sqlite")
    bad = tmp_path / "g.csv"
    bad.write_text("case_id,item,change\n1,marrow_edema,improved\n")
    with pytest.raises(SpondyError, match=r"g\.csv: gradings lack column\(s\) patient_id, "):
        load_gradings(bad)
    with pytest.raises(SpondyError, match=r"^gradings: gradings lack column"):
        load_gradings(pd.read_csv(bad))


def test_gradings_table_by_hand_reads_typed(tmp_path: Path) -> None:
    """A table made by hand (semicolons, DICOM dates) reads with the export's types."""
    path = tmp_path / "by_hand.csv"
    path.write_text(
        "case_id;reader;item;change;patient_id;baseline_date;followup_date\n"
        "007;A;marrow_edema;Improved;P1;20200101;2020-03-01\n",
        encoding="utf-8",
    )
    table = load_gradings(path)
    assert table["case_id"].tolist() == ["007"]  # text, not the number 7
    assert str(table["baseline_date"].dtype) == "datetime64[ns]"
    assert table["baseline_date"].tolist() == [pd.Timestamp("2020-01-01")]
    prepared, _ = prepare_gradings(table)
    assert (prepared["change"].tolist(), prepared["mri_code"].tolist()) == (["improved"], [0])


# ------------------------------------------------------------------------------ the cohort


@pytest.fixture(scope="module")
def cohort_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from spondy_annotate.synthetic.cohort import write_synthetic_cohort

    return write_synthetic_cohort(tmp_path_factory.mktemp("cohort"), seed=0)


@pytest.fixture(scope="module")
def cohort_result(cohort_files: tuple[Path, Path]) -> AnalysisResult:
    labs_path, gradings_path = cohort_files
    labs = read_labs(labs_path)
    assert labs.ok
    return analyze(read_gradings(gradings_path), labs.values, AnalysisSettings(bootstrap=200))


def test_cohort_class_counts_equal_the_paper(cohort_result: AnalysisResult) -> None:
    counts = cohort_result.class_counts.set_index("test")
    assert tuple(counts.loc["CRP", ["resolved", "resolving", "aggravated"]]) == (19, 19, 10)
    assert tuple(counts.loc["ESR", ["resolved", "resolving", "aggravated"]]) == (8, 22, 18)
    assert counts.loc["CRP", "unchanged"] == 1
    assert counts["missing"].tolist() == [0, 0]
    assert cohort_result.link.missing.empty


def test_cohort_cases_get_their_constructed_class(cohort_result: AnalysisResult) -> None:
    """Decoy draws (farther, or outside the window) never win the link."""
    truth = synthetic_cohort(0).truth.set_index("case_id")
    labs = cohort_result.labs.pivot(index="case_id", columns="test", values="lab_class")
    assert labs["CRP"].to_dict() == truth["CRP_class"].to_dict()
    assert labs["ESR"].to_dict() == truth["ESR_class"].to_dict()
    unchanged = cohort_result.labs[cohort_result.labs["unchanged"]]
    assert unchanged["case_id"].tolist() == truth.index[truth["CRP_unchanged"]].tolist()


def test_cohort_correlations_positive_and_significant(cohort_result: AnalysisResult) -> None:
    corr = cohort_result.correlations
    primary = corr[corr["primary"]].set_index(["test", "item"])
    assert cohort_result.primary_reader == "reader_a"
    for key in [
        ("CRP", "paravertebral_inflammation"),
        ("CRP", "marrow_edema"),
        ("ESR", "marrow_edema"),
        ("ESR", "paravertebral_inflammation"),
    ]:
        row = primary.loc[key]
        assert row["n"] == 48
        assert row["rho"] > 0.3 and row["p"] < 0.01, key
        assert row["ci_low"] > 0 and row["ci_low"] < row["rho"] < row["ci_high"], key
    assert set(corr["reader"]) == {"reader_a", "reader_b"}
    assert len(corr) == 2 * 2 * 3


def test_cohort_crosstab_and_kappa(cohort_result: AnalysisResult) -> None:
    table = cohort_result.crosstabs[("CRP", "paravertebral_inflammation")]
    assert table.to_numpy().sum() == 48
    assert table.sum(axis=1).tolist() == [19, 19, 10]
    assert list(table.index) == ["resolved", "resolving", "aggravated"]
    assert list(table.columns) == ["improved", "unchanged", "aggravated"]
    kappa = cohort_result.kappa
    assert kappa["item"].tolist() == ["marrow_edema", "paravertebral_inflammation", "disc_height"]
    assert (kappa["n"] == 48).all() and (kappa["kappa"] > 0.6).all()
    # the table's kappa is the hand formula applied to the two readers' codes
    g = cohort_result.dataset
    a = g[(g.reader == "reader_a") & (g.item == "marrow_edema")].set_index("case_id")["mri_code"]
    b = g[(g.reader == "reader_b") & (g.item == "marrow_edema")].set_index("case_id")["mri_code"]
    expected = hand_kappa(a.tolist(), b.loc[a.index].tolist())
    assert kappa.loc[0, "kappa"] == pytest.approx(expected, abs=1e-12)


def test_unchanged_option_moves_one_case(cohort_files: tuple[Path, Path]) -> None:
    labs_path, gradings_path = cohort_files
    settings = AnalysisSettings(
        bootstrap=0, classification=ClassificationSettings(unchanged_as=LabClass.RESOLVING)
    )
    result = analyze(read_gradings(gradings_path), read_labs(labs_path).values, settings)
    crp = result.class_counts.set_index("test").loc["CRP"]
    assert (crp["resolved"], crp["resolving"], crp["aggravated"]) == (19, 20, 9)


def test_primary_reader_choice(cohort_files: tuple[Path, Path]) -> None:
    labs_path, gradings_path = cohort_files
    g, v = read_gradings(gradings_path), read_labs(labs_path).values
    result = analyze(g, v, AnalysisSettings(bootstrap=0, primary_reader="reader_b"))
    assert result.primary_reader == "reader_b"
    assert result.correlations.loc[result.correlations["primary"], "reader"].unique().tolist() == [
        "reader_b"
    ]
    with pytest.raises(SpondyError, match="no reader named 'nobody'"):
        analyze(g, v, AnalysisSettings(bootstrap=0, primary_reader="nobody"))


def test_exported_dataset_has_no_identifiers(cohort_result: AnalysisResult) -> None:
    plain = cohort_result.export_dataset()
    assert not {"patient_id", "baseline_date", "followup_date"} & set(plain.columns)
    assert not any(c.endswith("_date") for c in plain.columns)
    full = cohort_result.export_dataset(include_identifiers=True)
    assert {"patient_id", "baseline_date", "CRP_baseline_draw_date"} <= set(full.columns)
