"""The preservation science, pure functions on numbers or NumPy arrays: psychrometrics, mould
models, decay indices, wood EMC, climate profiles and compliance.

Modules: ``psychrometrics`` (dew and frost point, humidity), ``decay`` (IPI PI/TWPI, paper
lifetime multiplier), ``mould`` (IPI days to mould and Mould Risk Factor, VTT mould index) with
``ipi_mould_table`` (IPI's published days to germination), ``mechanical`` (wood EMC and IPI's
EMC ratings), ``profiles`` (climate standards as data), ``compliance`` (a series against a
profile), ``advice`` (the smallest change of RH or temperature that leaves mould risk, enters a
profile's band or reaches a PI rating) and ``metrics`` — ``room_metrics``, the one entry point a
room's series goes through to get every metric at once.

Scalar inputs give ``numpy.float64`` results, array inputs give arrays; outside a model's
validity range the result is NaN (documented per function). No I/O and no clocks here.
"""
