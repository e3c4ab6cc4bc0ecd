"""Decoders for real device payloads, one module per format."""
