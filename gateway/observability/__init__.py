"""What operators see: Prometheus metrics and structured JSON logs without personal data."""
