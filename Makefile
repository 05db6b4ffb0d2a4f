.PHONY: run test
run:   ## set up and run fluxora-orch on its embedded defaults
	scripts/run
test:  ## set up and run the whole test suite (lint, types, unit, integration, infra)
	scripts/test
