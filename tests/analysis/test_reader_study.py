"""The analysis of a reader study's database: consensus as primary reading, agreement.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from spondy_annotate.analysis.agreement import AGREEMENT_COLUMNS
from spondy_annotate.analysis.pipeline import run_analysis
from spondy_annotate.analysis.results import AnalysisSettings
from spondy_annotate.grading.readings import CONSENSUS_READER, ReadKind
from spondy_annotate.grading.rubric import Measurement
from spondy_annotate.grading.session import GradingSession
from spondy_annotate.grading.store import Store

STUDY = """\
readers = ["AB", "CD"]
adjudicators = ["EF"]
[adjudication]
items = ["marrow_edema"]
"""
CHANGES = ["improved", "unchanged", "aggravated", "improved", "unchanged", "aggravated"]


@pytest.fixture
def study_db(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Two readers on six cases; CD disagrees on case 1 (settled) and case 2 (not settled)."""
    db, labs = tmp_path / "study.sqlite", tmp_path / "labs.csv"
    rows = ["patient_id,date,test,value,unit"]
    with Store(db) as store:
        store.set_study(STUDY)
        ids = []
        for i in range(6):
            ids.append(
                store.register_case(f"P{i}", f"1.{i}.1", "2021-01-04", f"1.{i}.2", "2021-03-01")
            )
            rows += [f"P{i},2021-01-03,CRP,{50 + i},mg/L", f"P{i},2021-03-01,CRP,{3 + 10 * i},mg/L"]
            rows += [f"P{i},2021-01-03,ESR,{60 + i},mm/h", f"P{i},2021-03-01,ESR,{10 + 9 * i},mm/h"]
        for reader in ("AB", "CD"):
            grading = GradingSession(store, reader=reader)
            for i, case_id in enumerate(ids):
                change = CHANGES[i]
                if reader == "CD" and i in (1, 2):
                    change = "improved"
                grading.record(case_id, "marrow_edema.change", change)
                grading.record(case_id, "disc_height.baseline_mm", Measurement(8.0 + i / 10))
                grading.record(case_id, "disc_height.followup_mm", Measurement(7.0 + i / 7))
            if reader == "AB":  # a repeat read of two cases, one judged differently
                grading.record(ids[0], "marrow_edema.change", "improved", kind=ReadKind.REPEAT)
                grading.record(ids[3], "marrow_edema.change", "unchanged", kind=ReadKind.REPEAT)
        adjudicator = GradingSession(store, reader="EF")
        queue = {d.case_id: d for d in adjudicator.adjudication_queue()}
        assert set(queue) == {ids[1], ids[2]}
        adjudicator.settle(queue[ids[1]], {"marrow_edema.change": "aggravated"})
    labs.write_text("\n".join(rows) + "\n")
    return db, labs, ids


def test_consensus_is_the_primary_reading_and_agreement_is_reported(
    study_db: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    db, labs, ids = study_db
    out = tmp_path / "out"
    run = run_analysis(db, [labs], settings=AnalysisSettings(bootstrap=50), out=out)
    result = run.result
    assert result.primary_reader == CONSENSUS_READER
    assert "AB (repeat)" not in result.readers
    consensus = result.dataset[
        (result.dataset["reader"] == CONSENSUS_READER) & (result.dataset["item"] == "marrow_edema")
    ].set_index("case_id")["change"]
    expected = dict(zip(ids, CHANGES, strict=True)) | {ids[1]: "aggravated"}  # settled
    assert consensus.to_dict() == expected  # elsewhere AB's reading (case 2 not yet settled)
    assert any("consensus reading" in note for note in result.notes)
    assert set(result.kappa[["reader_a", "reader_b"]].itertuples(index=False, name=None)) == {
        ("AB", "CD")
    }
    table = pd.read_csv(out / "agreement.csv")
    assert list(table.columns) == list(AGREEMENT_COLUMNS)
    change = table[(table["variable"] == "change") & (table["measure"] == "cohen_kappa_linear")]
    inter = change[change["scope"] == "inter"].iloc[0]
    assert (inter["readers"], inter["n"]) == ("AB / CD", 6)
    assert inter["percent_agreement"] == pytest.approx(400 / 6)
    intra = change[change["scope"] == "intra"].iloc[0]
    assert (intra["readers"], intra["n"], intra["percent_agreement"]) == ("AB / AB (repeat)", 2, 50)
    assert {"icc_2_1", "icc_3_1", "bland_altman_bias"} <= set(table["measure"])
    html = (out / "report.html").read_text()
    assert "The primary reading is the consensus reading" in html
    assert "fleiss_kappa" not in set(table["measure"])  # two readers: no multi-reader ones
    assert "cohen_kappa_quadratic" in html and "bland_altman_loa_low" in html
    assert "Agreement between and within readers" in run.summary
    dictionary = pd.read_csv(out / "data_dictionary.csv")
    assert set(dictionary.loc[dictionary["file"] == "agreement.csv", "column"]) == set(
        AGREEMENT_COLUMNS
    )
