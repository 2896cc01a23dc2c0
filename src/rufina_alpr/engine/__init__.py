"""One vehicle's pipeline, a stage per module, wired by `rufina_alpr.engine.app.Engine`."""
