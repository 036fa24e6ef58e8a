"""Synthetic SAML-D-compatible data: a full dataset and its daily increments.

Public API (imported from the submodules so that ``aml --help`` does not pay for numpy/pyarrow):
``aml.generate.generator.generate`` and ``aml.generate.increment.generate_increment``; the
``aml generate`` sub-command lives in ``aml.generate.cli``. ``aml.generate.rulecheck`` holds the
pure-Python reference semantics of the rule pack that every injected instance is proven against.
"""
