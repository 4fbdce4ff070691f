"""Reliability suite (issue 6): a package so its conftest does not shadow ``conftest`` of other test folders."""
