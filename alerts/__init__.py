"""The alerting engine: rules, the alert lifecycle and its state store, notifications and
escalation, the schedule."""
