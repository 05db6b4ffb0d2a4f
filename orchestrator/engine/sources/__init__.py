"""Sources: the Salt event bus (`salt`), signed webhooks (`webhook`, `signing`), Alertmanager
(`alertmanager`) and schedules (`schedules`). Each hands `Submission`s to the inbox."""
