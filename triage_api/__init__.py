"""The triage API: review queue, consensus, escalation. Serves the review UI at ``/``."""
