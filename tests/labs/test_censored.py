"""Censored lab values (``<L``, ``>L``): read as their limit, flagged, and classified by rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from spondy_annotate.labs.classify import classify_labs
from spondy_annotate.labs.link import link_labs
from spondy_annotate.labs.read import read_labs


def test_censored_values_are_read_as_their_limit(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_text(
        "patient_id,date,test,value,unit\n"
        "P1,2020-01-01,CRP,<5,mg/L\n"
        "P1,2020-01-02,ESR,>120,mm/h\n"
        "P1,2020-01-03,CRP,<= 0.3,mg/dL\n"
        "P1,2020-01-04,CRP,12,mg/L\n"
        "P1,2020-01-05,CRP,<,mg/L\n",
        encoding="utf-8",
    )
    labs = read_labs(path)
    assert [str(p) for p in labs.problems] == [
        "labs.csv:6: value: unparseable CRP value (expected a number, <L or >L)"
    ]
    values = labs.values.set_index("line")
    assert values.loc[[2, 3, 4, 5], "value"].tolist() == [5.0, 120.0, 3.0, 12.0]
    assert values.loc[[2, 3, 4, 5], "censored"].tolist() == ["<", ">", "<", ""]
    assert values.loc[2, "raw_value"] == "<5"


@pytest.mark.parametrize(
    ("followup", "expected"),
    [("<5", "resolved"), ("<8", "resolving"), (">200", "aggravated")],
)
def test_censored_follow_up_is_classified_by_its_limit(
    tmp_path: Path, followup: str, expected: str
) -> None:
    """``<L`` at or below the normal limit is resolved; above it, conservatively not."""
    path = tmp_path / "labs.csv"
    path.write_text(
        "patient_id,date,test,value,unit\n"
        f"P1,2020-01-01,CRP,150,mg/L\nP1,2020-03-01,CRP,{followup},mg/L\n",
        encoding="utf-8",
    )
    cases = pd.DataFrame(
        {
            "case_id": ["c1"],
            "patient_id": ["P1"],
            "baseline_date": [dt.date(2020, 1, 1)],
            "followup_date": [dt.date(2020, 3, 1)],
        }
    )
    link = link_labs(cases, read_labs(path).values, tests=["CRP"])
    row = classify_labs(link).iloc[0]
    assert row["lab_class"] == expected
    assert (row["baseline_censored"], row["followup_censored"]) == ("", followup[0])
