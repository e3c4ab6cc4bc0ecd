"""Reference values the science is tested against, each with its source.

REFERENCE_TABLE is ../shared/science/REFERENCE.md §6 verbatim (values computed there from the
published equations, to the decimals printed). DPCALC_CASES are the IPI Dew Point Calculator's
outputs published as validated cases by the ``preservationeval`` package
(github.com/petter-b/preservationeval, tests/test_core.py): dpcalc looks its tables up at
JavaScript ``Math.round`` of the inputs, clamps PI inputs to −23…65 °C / 6…95 % RH, and reports
PI in whole years, EMC to 0.1 % and days to mould in whole days (0 = no risk).
"""

from __future__ import annotations

import math

# T °C, RH %, e_s Magnus Pa, e_s Sonntag Pa, dew point °C, abs. humidity g/m³,
# mixing ratio g/kg, wood EMC %, LM
REFERENCE_TABLE: list[tuple[float, float, float, float, float, float, float, float, float]] = [
    (0, 50, 610.94, 611.21, -9.20, 2.42, 1.88, 9.52, 20.17),
    (10, 40, 1226.02, 1228.13, -2.99, 3.75, 3.02, 7.87, 5.69),
    (18, 45, 2059.73, 2064.66, 5.89, 6.90, 5.74, 8.53, 1.520),
    (20, 50, 2333.44, 2339.25, 9.26, 8.62, 7.25, 9.27, 1.000),
    (20, 65, 2333.44, 2339.25, 13.22, 11.21, 9.45, 12.00, 0.711),
    (25, 75, 3161.74, 3169.90, 20.26, 17.23, 14.90, 14.24, 0.297),
    (30, 90, 4236.65, 4247.03, 28.18, 27.25, 24.32, 19.99, 0.120),
    (14, 60, 1595.54, 1598.91, 6.36, 7.22, 5.93, 11.16, 1.859),
]


def decimals(value: float) -> int:
    """Decimals printed for a reference value (REFERENCE.md prints LM to 2 or 3)."""
    text = repr(float(value))
    return len(text.split(".")[1]) if "." in text else 0


# T °C, RH %, PI years, EMC %, days to mould (0 = no risk)
DPCALC_CASES: list[tuple[float, float, float, float, float]] = [
    (23.0, 2.5, 102, 0.8, 0),
    (27.5, 74.0, 9, 13.8, 46),
    (32.5, 80.0, 5, 15.4, 13),
    (-13.0, 33.0, 7840, 6.6, 0),
    (20.0, 70.0, 26, 13.1, 165),
    (23.5, 52.5, 25, 9.6, 0),
    (14.0, 30.5, 161, 6.4, 0),
    (-18.0, 43.5, 9999, 8.1, 0),
    (61.5, 3.5, 1, 0.7, 0),
    (28.5, 0.0, 48, 0.0, 0),
    (44.0, 97.0, 1, 24.1, 5),
]
DPCALC_PI_CAP = 9999


def js_round(x: float) -> float:
    """JavaScript ``Math.round``: halves round up (towards +inf)."""
    return math.floor(x + 0.5)


def dpcalc_pi_inputs(t_c: float, rh_pct: float) -> tuple[float, float]:
    """The table cell dpcalc reads for PI: rounded and clamped to −23…65 °C, 6…95 % RH."""
    t = min(max(js_round(t_c), -23.0), 65.0)
    rh = min(max(js_round(rh_pct), 6.0), 95.0)
    return t, rh
