"""A minimal stand-in for rpaframework's RPA.Robocorp.Vault, for the tests.

rpaframework is not installable here. This module reproduces only the part
of its documented contract that a custom secret manager meets: the adapter
class is named by its dotted path in RPA_SECRET_MANAGER, imported, required
to be a subclass of BaseSecretManager (an ABCMeta class with abstract
get_secret and set_secret), built lazily with the library's arguments, and
get_secret / set_secret are delegated to it.
"""

import importlib
import os
from abc import ABCMeta, abstractmethod


class BaseSecretManager(metaclass=ABCMeta):
    """The abstract adapter interface."""

    @abstractmethod
    def get_secret(self, secret_name):
        """Returns a secret (a mapping with name and description)."""

    @abstractmethod
    def set_secret(self, secret):
        """Stores a secret."""


def _import_by_name(dotted):
    module_name, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


class Vault:
    """Selects the adapter from RPA_SECRET_MANAGER and delegates to it."""

    def __init__(self, *args, **kwargs):
        name = os.environ["RPA_SECRET_MANAGER"]
        adapter = _import_by_name(name)
        if not issubclass(adapter, BaseSecretManager):
            raise ValueError(f"Adapter '{adapter}' does not inherit from BaseSecretManager")
        self._factory = lambda: adapter(*args, **kwargs)
        self._adapter = None

    @property
    def adapter(self):
        if self._adapter is None:
            self._adapter = self._factory()
        return self._adapter

    def get_secret(self, secret_name):
        return self.adapter.get_secret(secret_name)

    def set_secret(self, secret):
        self.adapter.set_secret(secret)
