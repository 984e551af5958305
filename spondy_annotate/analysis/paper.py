"""The reference figures of Ahn et al., BMC Musculoskelet Disord 2020;21:428, shown beside ours."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PAPER_CLASS_COUNTS", "PAPER_ITEMS", "PAPER_RHO", "order_items"]

#: The MRI items of the paper, listed first in every table.
PAPER_ITEMS: tuple[str, ...] = ("marrow_edema", "paravertebral_inflammation", "disc_height")
#: Class counts (resolved, resolving, aggravated) reported by Ahn et al. (n = 48).
PAPER_CLASS_COUNTS: dict[str, tuple[int, int, int]] = {"CRP": (19, 19, 10), "ESR": (8, 22, 18)}
#: Spearman rho reported by Ahn et al., by (test, item).
PAPER_RHO: dict[tuple[str, str], float] = {
    ("CRP", "paravertebral_inflammation"): 0.48,
    ("CRP", "marrow_edema"): 0.41,
    ("ESR", "marrow_edema"): 0.45,
    ("ESR", "paravertebral_inflammation"): 0.39,
}


def order_items(items: Iterable[object]) -> tuple[str, ...]:
    """The distinct items, the paper's first (in its order), then the others by name.

    Examples
    --------
    >>> order_items(["vertebral_height", "disc_height", "marrow_edema", "disc_height"])
    ('marrow_edema', 'disc_height', 'vertebral_height')
    """
    present = {str(i) for i in items}
    return tuple([i for i in PAPER_ITEMS if i in present] + sorted(present - set(PAPER_ITEMS)))
