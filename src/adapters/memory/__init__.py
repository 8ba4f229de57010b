"""In-memory twins of every port, held to the same contract suites as the real adapters.

By module (``tests/unit/test_public_api.py`` holds the full port -> twin table):

- ``uow``, ``stores``, ``accounts``, ``statistics``, ``job_board``: the unit of work
  and the stores of every aggregate (staged, visible on commit);
- ``ai``: the AI stores, and the AI ports' twins ``OfflineProvider`` (classifier,
  suggester, summarizer) and ``HashingEmbedder``, bundled by ``memory_ai()``;
- ``automation``: the automation stores and ``RecordingAutomationSink``;
- ``security``: ``MemoryPasswordHasher``, ``MemorySecretBox``, ``MemoryTokenIssuer``
  (standard library, fast, for tests and the CLI harness: never for production);
- ``gateway``: ``MemoryWhatsAppGateway`` and ``MemoryEventPublisher``;
- ``media``: ``MemoryBlobStore``, ``MemoryMediaObjectStore``, ``MemoryMediaFetcher``;
- ``jobs``: ``MemoryOutboxRelay``, ``MemoryRateLimiter``; ``idempotency``:
  ``MemoryIdempotencyGuard``; ``basics``: clocks and ids.
"""
