# Salt's reactor doing the benchmark's work: one trivial runner per event.
bench-done:
  runner.bench_done.mark:
    - args:
      - event_id: {{ data['event_id'] }}
      - sent_at: {{ data['sent_at'] }}
