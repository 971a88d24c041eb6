"""The training wizard: data, settings, live run and results pages."""
