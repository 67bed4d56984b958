"""A law given as an object, options included, survives a saved fit."""

from __future__ import annotations

import numpy as np

import scalefit
from scalefit.laws import get_law


def test_a_law_object_with_options_is_saved_by_its_full_spec():
    law = get_law("power", x="C")
    res = scalefit.fit("data/chinchilla.csv", law, bootstrap=0, holdout="none")
    assert res.law == "power:x=C"
    back = scalefit.FitResult.from_json(res.to_json())
    assert back.law_.input_names == law.input_names == ["C"]
    c = np.array([1e20, 1e22, 1e24])
    np.testing.assert_allclose(back.predict(C=c).value, res.predict(C=c).value, rtol=1e-12)
