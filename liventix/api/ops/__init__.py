"""Operations: health, readiness, metrics (no API key): `routes`, `schemas`."""
