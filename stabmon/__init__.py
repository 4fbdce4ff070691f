"""stabmon: is the release stable in the week after it ships?"""

__version__ = "0.1.0"
