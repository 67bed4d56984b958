"""The NIST StRD nonlinear-regression problems of higher difficulty as custom scalefit laws.

Each problem is a :class:`scalefit.laws.Law` subclass written with the public custom-law API
(inputs, parameters, a vectorised ``_predict`` and an analytic ``_jacobian``), and its data,
starting values and certified values are read from ``tests/reference/nist/NAME.dat``.
The predictor ``x`` is read from the ``params`` column of a final-loss table (it is negative in
Thurber, hence ``positive=False``) and the response from ``loss``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.laws import Input, Law, Param

DIR = Path(__file__).resolve().parent / "reference" / "nist"
NAMES = ("MGH09", "MGH10", "Thurber", "Eckerle4", "Rat43", "Bennett5", "BoxBOD")

X = Input("x", "the predictor of a NIST StRD problem", "params", positive=False)


@dataclass
class Problem:
    name: str
    x: np.ndarray
    y: np.ndarray
    starts: tuple[np.ndarray, np.ndarray]
    certified: np.ndarray
    rss: float

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"run": [f"p{i}" for i in range(len(self.x))], "params": self.x,
                             "loss": self.y})


def load(name: str) -> Problem:
    head: dict[str, str] = {}
    rows = []
    for line in (DIR / f"{name}.dat").read_text().splitlines():
        if line.startswith("#"):
            k, _, v = line[1:].partition(":")
            head[k.strip()] = v.strip()
        elif line.strip() and not line.startswith("y"):
            rows.append([float(t) for t in line.split()])
    a = np.array(rows)

    def vec(key):
        return np.array([float(t) for t in head[key].split()])

    return Problem(name, a[:, 1], a[:, 0], (vec("start1"), vec("start2")), vec("certified"),
                   float(head["certified_rss"]))


def _p(n: int) -> tuple[Param, ...]:
    return tuple(Param(f"b{i + 1}") for i in range(n))


def _cols(theta, k):
    t = np.asarray(theta, float)
    return [t[..., i, None] for i in range(k)]


class _NIST(Law):
    """A NIST StRD nonlinear least-squares problem (y against x)."""

    source = "NIST StRD, https://www.itl.nist.gov/div898/strd/nls/nls_main.shtml"
    inputs = (X,)
    output = "y"


class MGH09(_NIST):
    """MGH09 (Kowalik and Osborne 1978): a rational function."""

    name = "nist_mgh09"
    formula = "y = b1*(x^2+x*b2) / (x^2+x*b3+b4)"
    params = _p(4)

    def _predict(self, X, theta):
        b1, b2, b3, b4 = _cols(theta, 4)
        x = X["x"]
        return b1 * (x * x + x * b2) / (x * x + x * b3 + b4)

    def _jacobian(self, X, theta):
        b1, b2, b3, b4 = _cols(theta, 4)
        x = X["x"]
        t, d = x * x + x * b2, x * x + x * b3 + b4
        return np.stack(np.broadcast_arrays(t / d, b1 * x / d, -b1 * t * x / d ** 2,
                                            -b1 * t / d ** 2), -1)


class MGH10(_NIST):
    """MGH10 (Meyer 1970): an exponential of a reciprocal."""

    name = "nist_mgh10"
    formula = "y = b1 * exp(b2/(x+b3))"
    params = _p(3)

    def _predict(self, X, theta):
        b1, b2, b3 = _cols(theta, 3)
        return b1 * np.exp(b2 / (X["x"] + b3))

    def _jacobian(self, X, theta):
        b1, b2, b3 = _cols(theta, 3)
        s = X["x"] + b3
        e = np.exp(b2 / s)
        return np.stack(np.broadcast_arrays(e, b1 * e / s, -b1 * b2 * e / s ** 2), -1)


class Thurber(_NIST):
    """Thurber (NIST 1979): semiconductor electron mobility, a cubic over a cubic."""

    name = "nist_thurber"
    formula = "y = (b1 + b2*x + b3*x^2 + b4*x^3) / (1 + b5*x + b6*x^2 + b7*x^3)"
    params = _p(7)

    def _predict(self, X, theta):
        b = _cols(theta, 7)
        x = X["x"]
        return (b[0] + b[1] * x + b[2] * x ** 2 + b[3] * x ** 3) / (
            1 + b[4] * x + b[5] * x ** 2 + b[6] * x ** 3)

    def _jacobian(self, X, theta):
        b = _cols(theta, 7)
        x = X["x"]
        num = b[0] + b[1] * x + b[2] * x ** 2 + b[3] * x ** 3
        den = 1 + b[4] * x + b[5] * x ** 2 + b[6] * x ** 3
        cols = [x ** k / den for k in range(4)] + [-num * x ** k / den ** 2 for k in (1, 2, 3)]
        return np.stack(np.broadcast_arrays(*cols), -1)


class Eckerle4(_NIST):
    """Eckerle4 (NIST 1979): a Gaussian peak of circular interference transmittance."""

    name = "nist_eckerle4"
    formula = "y = (b1/b2) * exp(-0.5*((x-b3)/b2)^2)"
    params = _p(3)

    def _predict(self, X, theta):
        b1, b2, b3 = _cols(theta, 3)
        return b1 / b2 * np.exp(-0.5 * ((X["x"] - b3) / b2) ** 2)

    def _jacobian(self, X, theta):
        b1, b2, b3 = _cols(theta, 3)
        u = X["x"] - b3
        e = np.exp(-0.5 * (u / b2) ** 2)
        return np.stack(np.broadcast_arrays(e / b2, b1 * e * (u ** 2 / b2 ** 4 - 1 / b2 ** 2),
                                            b1 * e * u / b2 ** 3), -1)


class Rat43(_NIST):
    """Rat43 (Ratkowsky 1983): onion dry weight, a generalised logistic."""

    name = "nist_rat43"
    formula = "y = b1 / (1+exp(b2-b3*x))^(1/b4)"
    params = _p(4)

    def _predict(self, X, theta):
        b1, b2, b3, b4 = _cols(theta, 4)
        return b1 * (1 + np.exp(b2 - b3 * X["x"])) ** (-1 / b4)

    def _jacobian(self, X, theta):
        b1, b2, b3, b4 = _cols(theta, 4)
        x = X["x"]
        e = np.exp(b2 - b3 * x)
        u = 1 + e
        p = u ** (-1 / b4)
        q = b1 * p / (b4 * u) * e  # d pred / d b2, up to sign
        return np.stack(np.broadcast_arrays(p, -q, q * x, b1 * p * np.log(u) / b4 ** 2), -1)


class Bennett5(_NIST):
    """Bennett5 (Bennett, Swartzendruber and Brown 1994): superconductivity magnetisation."""

    name = "nist_bennett5"
    formula = "y = b1 * (b2+x)^(-1/b3)"
    params = _p(3)

    def _predict(self, X, theta):
        b1, b2, b3 = _cols(theta, 3)
        return b1 * (b2 + X["x"]) ** (-1 / b3)

    def _jacobian(self, X, theta):
        b1, b2, b3 = _cols(theta, 3)
        s = b2 + X["x"]
        p = s ** (-1 / b3)
        return np.stack(np.broadcast_arrays(p, -b1 * p / (b3 * s), b1 * p * np.log(s) / b3 ** 2),
                        -1)


class BoxBOD(_NIST):
    """BoxBOD (Box et al. 1978): biochemical oxygen demand, an exponential approach."""

    name = "nist_boxbod"
    formula = "y = b1*(1-exp(-b2*x))"
    params = _p(2)

    def _predict(self, X, theta):
        b1, b2 = _cols(theta, 2)
        return b1 * (1 - np.exp(-b2 * X["x"]))

    def _jacobian(self, X, theta):
        b1, b2 = _cols(theta, 2)
        e = np.exp(-b2 * X["x"])
        return np.stack(np.broadcast_arrays(1 - e, b1 * X["x"] * e), -1)


LAWS: dict[str, type[Law]] = {"MGH09": MGH09, "MGH10": MGH10, "Thurber": Thurber,
                              "Eckerle4": Eckerle4, "Rat43": Rat43, "Bennett5": Bennett5,
                              "BoxBOD": BoxBOD}


def digits(est, cert) -> float:
    """NIST's log relative error: the number of certified digits an estimate agrees to."""
    est, cert = np.asarray(est, float), np.asarray(cert, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lre = -np.log10(np.abs(est - cert) / np.abs(cert))
    lre = np.where(est == cert, 11.0, lre)
    return np.where(np.isfinite(lre), np.clip(lre, 0.0, 11.0), 0.0)
