"""One vehicle's pipeline, a stage per module (issue 22), wired by `rufina_alpr.service.Engine`."""
