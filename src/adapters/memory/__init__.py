"""In-memory twins of every port, held to the same contract suites as the real adapters."""
