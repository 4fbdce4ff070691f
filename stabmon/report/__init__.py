"""Reports for people: the notebooks' data frames, views and charts, and their rendering.

rundata (a run folder as data frames), views (tables and verdict blocks),
charts (every chart: data and an ``ax`` in, a figure out), retrospective,
fleet_views, render (papermill and nbconvert: ``DIR/reports/``).
"""
