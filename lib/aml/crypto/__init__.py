"""Field-level protection of PII in the lake: Fernet encryption, keyed tokens, audited decrypt.

Modules, by concern:

- :mod:`aml.crypto.keys`: the keyring (environment or a 0600 key file), never logged.
- :mod:`aml.crypto.columns`: ``token``, ``with_tokenized``, ``with_encrypted``, decrypt helpers.
- :mod:`aml.crypto.pii`: ``conf/pii.toml`` (which columns, how) and ``protect`` for silver jobs.
- :mod:`aml.crypto.access`: roles from ``conf/access.toml`` and ``decrypt`` with its audit.
- :mod:`aml.crypto.rotate` / :mod:`aml.crypto.rewrite`: crash-safe Fernet key rotation.
- :mod:`aml.crypto.cli`: ``aml keys init|status|rotate`` and ``aml decrypt``.

Nothing is imported here, so ``import aml.crypto.keys`` does not pull in pyspark.
"""
