"""Broken neural scaling laws (Caballero et al. 2022): a power law with 1 to 3 smooth breaks."""

from __future__ import annotations

import itertools

import numpy as np

from scalefit.errors import UsageError
from scalefit.laws.base import Law, Param, register, size_input

#: typical range of each size variable: places the default break points and example data
_RANGES = {"N": (1e6, 1e11), "D": (1e8, 1e13), "C": (1e15, 1e22), "S": (1e1, 1e6)}


def _softplus(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@register
class BNSL(Law):
    """y = a + b · x^(−c0) · Π_{i=1..k} (1 + (x/d_i)^(1/f_i))^(−c_i·f_i),  k = 1, 2 or 3.

    Each break i bends the log-log slope from its left value by −c_i around x = d_i, with
    sharpness 1/f_i (small f: sharp). ``a`` is the limit, ``b`` the amplitude (both enter
    linearly); d_i and f_i are fitted in log space. Options: ``bnsl:breaks=2`` (1 to 3) and
    ``bnsl:x=C`` (the size variable: N (default), D, C or S). Starts place the breaks across
    the range of the data when the fit passes it, else across a typical range of x.

    Source: Caballero et al. 2022, "Broken Neural Scaling Laws", eq. (1).
    """

    name = "bnsl"
    formula = "y = a + b*x^(-c0)*prod_i (1 + (x/d_i)^(1/f_i))^(-c_i*f_i)"
    source = "Caballero et al. 2022 (broken neural scaling laws)"

    def __init__(self, breaks: int = 1, x: str = "N"):
        try:
            k = int(breaks)
        except (TypeError, ValueError):
            k = -1
        if k not in (1, 2, 3):
            raise UsageError(f"law 'bnsl': breaks={breaks!r} must be 1, 2 or 3",
                             where="law option breaks", hint="e.g. bnsl:breaks=2")
        self.breaks, self.x = k, str(x)
        self.inputs = (size_input(self.x, self.name),)
        ps = [
            Param("a", 0.0, np.inf, log=True, grid=(-1.0, 0.5), linear=True, doc="limit"),
            Param("b", 0.0, np.inf, log=True, linear=True, doc="amplitude"),
            Param("c0", 0.0, 5.0, doc="slope before the first break"),
        ]
        for i in range(1, k + 1):
            ps += [Param(f"c{i}", -5.0, 5.0, doc=f"change of slope at break {i}"),
                   Param(f"d{i}", 0.0, np.inf, log=True, doc=f"location of break {i}"),
                   Param(f"f{i}", 1e-3, 1e2, log=True, doc=f"smoothness of break {i}")]
        self.params = tuple(ps)
        lo, hi = _RANGES[self.x]
        ld = np.linspace(np.log(lo), np.log(hi), k + 2)[1:-1]
        c0 = 0.2
        # slopes 0.2 -> 0.7 -> 0.4 -> 0.8: breaks sharp and far enough apart to be identified
        ex = {"a": 0.2, "b": float(3.0 * lo ** c0), "c0": c0}
        for i in range(k):
            ex.update({f"c{i + 1}": (0.5, -0.3, 0.4)[i], f"d{i + 1}": float(np.exp(ld[i])),
                       f"f{i + 1}": 0.1})
        self.example = {"params": ex, "inputs": {self.x: (lo, hi)}}

    def options(self) -> dict:
        """``breaks`` (1 to 3) and ``x``, the size variable."""
        return {"breaks": self.breaks, "x": self.x}

    def start_grid(self, X=None):
        """Starts in the optimiser's space, one row each: ``breaks`` of 5 break locations spread
        inside the log range of ``X[x]`` (a typical range without data), small grids of the limit,
        slopes and smoothness, and the amplitude that makes the reducible part about 1 mid-range."""
        k = self.breaks
        if X is not None and self.x in X:
            lx = np.log(np.asarray(X[self.x], float))
            lo, hi = lx.min(), lx.max()
        else:
            lo, hi = np.log(np.asarray(_RANGES[self.x]))
        cand = np.linspace(lo, hi, 7)[1:-1]  # 5 candidate break locations inside the range
        lmid = 0.5 * (lo + hi)
        c0s = (0.1, 0.4, 1.0) if k < 3 else (0.1, 0.5)
        cis = (0.2, 0.8)
        fs = (np.log(0.3), np.log(1.0)) if k == 1 else (np.log(0.5),)
        rows = []
        for la, c0, ds, cs, fl in itertools.product(
                (-1.0, 0.5), c0s, itertools.combinations(cand, k),
                itertools.product(cis, repeat=k), itertools.product(fs, repeat=k)):
            # amplitude such that the reducible part is about 1 in the middle of the range
            lb = c0 * lmid + sum(c * np.exp(f) * _softplus((lmid - d) / np.exp(f))
                                 for c, d, f in zip(cs, ds, fl, strict=True))
            row = [la, lb, c0]
            for c, d, f in zip(cs, ds, fl, strict=True):
                row += [c, d, f]
            rows.append(row)
        return np.asarray(rows, dtype=float)

    def _parts(self, X, theta):
        theta = np.asarray(theta, float)
        lx = np.log(X[self.x])
        c0 = theta[..., 2, None]
        expo = -c0 * lx
        br = []
        for i in range(self.breaks):
            c, d, f = (theta[..., 3 + 3 * i + j, None] for j in range(3))
            z = (lx - np.log(d)) / f
            expo = expo - c * f * _softplus(z)
            br.append((c, d, f, z))
        T = theta[..., 1, None] * np.exp(expo)
        return theta[..., 0, None], theta[..., 1, None], lx, T, br

    def _predict(self, X, theta):
        a, _, _, T, _ = self._parts(X, theta)
        return a + T

    def _jacobian(self, X, theta):
        a, b, lx, T, br = self._parts(X, theta)
        cols = [np.ones_like(T), T / b, -lx * T]
        for c, d, f, z in br:
            sp, sg = _softplus(z), _sigmoid(z)
            cols += [-f * sp * T, c * sg / d * T, -c * (sp - sg * z) * T]
        return np.stack(cols, -1)

    def linear_basis(self, X, nonlinear):
        """Basis for ``a`` and ``b``: ones and the broken power law with ``b = 1``."""
        nl = np.asarray(nonlinear, float)
        ones = np.ones(nl.shape[:-1] + (1,))
        theta = np.concatenate([np.zeros_like(ones), ones, nl], -1)
        T = self._parts(X, theta)[3]
        return np.stack([np.ones_like(T), T], -1)
