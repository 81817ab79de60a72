"""The refresh graph, workflow jobs and their tasks, schedules and exports of one instance."""
