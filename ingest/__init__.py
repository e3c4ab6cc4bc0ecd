"""How readings arrive: the MQTT collector — subscribe, decode, validate, calibrate, batch,
store, acknowledge — with its durable spool and dead-letter path."""
