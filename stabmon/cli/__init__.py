"""The ``stabmon`` command line: the only place that parses flags and chooses one service or a fleet."""
