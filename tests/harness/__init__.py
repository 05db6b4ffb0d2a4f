"""Real servers for the tests: each start waits for readiness and fails with the server's log."""
