"""Where readings are kept and read back: the `Store` interface, the InfluxDB store and the
embedded SQLite store."""
