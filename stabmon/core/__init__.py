"""Pure rules: what the numbers mean (docs/contract.md §3). No I/O, no flags, no server.

model, settings, errors; drift, alerts (episodes), daily, figures, score,
trends, rollback, weekly, advice; anomaly, budget, compare; fleet_summary;
markdown and text (the weekly Markdown and its one escaper); paths (where the
package's own files are).
"""
