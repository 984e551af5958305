"""Stack planning: sorting by position, splitting repeated volumes, refusing irregular ones."""

import numpy as np
import pytest

from spondy_annotate.dicom.records import FrameGeometry
from spondy_annotate.dicom.stacks import plan_stacks
from spondy_annotate.errors import SeriesGeometryError

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def frames_at(zs, orientation=AXIAL, keys=lambda i: ("", "", "", "", "", i)):
    normal = np.cross(orientation[:3], orientation[3:])
    return [
        FrameGeometry(tuple(float(v) for v in z * normal), orientation, keys(i))
        for i, z in enumerate(zs)
    ]


def test_sorts_along_normal_not_input_order():
    zs = [4.0, 0.0, 8.0, 2.0, 6.0]
    (stack,) = plan_stacks(frames_at(zs))
    assert [zs[i] for i in stack.indices] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert stack.spacing == pytest.approx(2.0)


def test_sagittal_normal_runs_right_to_left():
    # sagittal IOP (0,1,0 / 0,0,-1): normal is -x, so positions sorted by decreasing x
    xs = [10.0, -10.0, 0.0]
    frames = [
        FrameGeometry((x, 0.0, 0.0), SAGITTAL, ("", "", "", "", "", i)) for i, x in enumerate(xs)
    ]
    (stack,) = plan_stacks(frames)
    assert [xs[i] for i in stack.indices] == [10.0, 0.0, -10.0]
    assert stack.plane == "sagittal"


@pytest.mark.parametrize(
    ("zs", "message"),
    [
        ([0, 2, 4, 8, 10], "a gap between slices"),
        ([0, 2, 4, 5.2, 7], "uneven spacing"),
        ([0, 2, 2, 4, 6], "duplicate slice positions"),
    ],
)
def test_irregular_stacks_are_refused(zs, message):
    with pytest.raises(SeriesGeometryError, match=message):
        plan_stacks(frames_at([float(z) for z in zs]))


def test_in_plane_shift_is_refused():
    frames = frames_at([0.0, 2.0, 4.0])
    frames[2] = FrameGeometry((3.0, 0.0, 4.0), AXIAL, frames[2].split_keys)
    with pytest.raises(SeriesGeometryError, match="shifted in-plane"):
        plan_stacks(frames)


def test_mixed_orientations_split_into_stacks():
    frames = frames_at([0.0, 3.0, 6.0]) + frames_at([0.0, 3.0], SAGITTAL)
    stacks = plan_stacks(frames)
    assert sorted(s.plane for s in stacks) == ["axial", "sagittal"]
    assert sorted(len(s.indices) for s in stacks) == [2, 3]


def test_time_points_split_by_temporal_key():
    zs = [0.0, 5.0, 10.0] * 3
    frames = frames_at(zs, keys=lambda i: ("", str(i // 3 + 1), "", "", "", i))
    stacks = plan_stacks(frames)
    assert [s.label for s in stacks] == ["time point 1", "time point 2", "time point 3"]
    assert all(s.spacing == pytest.approx(5.0) for s in stacks)
    assert stacks[1].indices == (3, 4, 5)


def test_time_points_without_key_split_by_acquisition_order():
    zs = [0.0, 5.0, 10.0] * 2
    frames = frames_at(zs, keys=lambda i: ("", "", "", "", "", i))
    stacks = plan_stacks(frames)
    assert len(stacks) == 2
    assert stacks[0].indices == (0, 1, 2) and stacks[1].indices == (3, 4, 5)


def test_no_geometry_is_refused():
    with pytest.raises(SeriesGeometryError, match="ImagePositionPatient"):
        plan_stacks([])
