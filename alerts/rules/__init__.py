"""The alert rules, one module per rule class: excursion, fluctuation, mould, condensation,
decay and sensor health, with what they share in `alerts.rules.base`.

Each rule is a pure function of a subject's history as arrays, its band and parameters, the
evaluation times and the state of its open alerts, returning the findings that hold at each time
(`alerts.rules.base.RuleOutput`); the evaluator (`alerts.evaluate`) calls them, the lifecycle
(`alerts.lifecycle`) turns their findings into alerts.
"""
