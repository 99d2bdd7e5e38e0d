"""Finance's reports as JSON under /v1/reports: `routes`, `schemas`, `views`."""
