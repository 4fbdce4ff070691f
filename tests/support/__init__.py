"""Test tools: real servers, exporters, fakes. Importable by benchmarks."""
