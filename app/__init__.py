"""The running service: settings, the CLI, and the wiring that starts collector and scheduler."""
