"""NanoFlow's exchange-rate curves: the numpy PCHIP is SciPy's PchipInterpolator, and the curves
pass through the measured points."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from perfmodel.interference import FIG6_POINTS, TABLE3_P, TABLE3_R, performance, share_points


@pytest.mark.parametrize("cls", ["memory", "network"])
def test_numpy_pchip_is_scipys(cls):
    r = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(performance(cls, r), np.clip(PchipInterpolator(*share_points(cls))(r), 0, 1),
                               atol=1e-12)


def test_measured_points_and_scalars():
    for cls in ("memory", "network"):
        pts = dict(zip(TABLE3_R, TABLE3_P[cls])) | dict(FIG6_POINTS[cls])
        for r, p in pts.items():
            assert float(performance(cls, r)) == pytest.approx(p, abs=1e-12)
    assert float(performance("compute", 0.4)) == 0.4 and float(performance("memory", 1.7)) == 1.0
