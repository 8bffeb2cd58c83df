"""The triage service layer: business logic the routes, the CLI and jobs call (routes stay thin)."""
