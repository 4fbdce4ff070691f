"""The embedded demo: a synthetic week (and a small fleet) written through the real pipeline, no server needed."""
