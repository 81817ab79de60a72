"""The refresh graph, workflow jobs and their tasks, schedules and exports of one instance.

- ``engine``: :class:`~ci_toolkit.emulator.workflows.engine.WorkflowEngine`, runs jobs as
  asyncio tasks and fires active schedules;
- ``graph``: the nodes (ingestion, match, merge, profileStore, search, measures,
  segmentation, export) and who depends on whom;
- ``model``: jobs, tasks and node states as the contract's ``GraphJobInfo``,
  ``GraphTaskInfo`` and ``GraphNodeInfo``;
- ``exports``: the demo exports and the CSV / Parquet files their runs write;
- ``schedules``, ``cron``, ``timezones``: ``WorkflowRefreshSchedule`` and what it accepts;
- ``history``: the seeded past runs; ``outcomes``: the errors and warnings tasks end with.
"""
