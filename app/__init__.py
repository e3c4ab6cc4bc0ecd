"""The running service: settings, the `repoclimate` command, and the wiring of broker, collector,
store, simulator and alert engine (the demo)."""
