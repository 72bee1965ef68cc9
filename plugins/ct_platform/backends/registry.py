"""What both model registries (local folder, Vertex AI Model Registry) share.

    register(candidate_model_uri, metadata) -> record
    get_version(version) / get_alias(alias) -> record (None: no such alias)
    set_alias(version, alias, reason, expected_version=ANY) -> record
A record carries at least version, model_uri and the metadata given at register time.
"""

from __future__ import annotations


class RegistryError(RuntimeError):
  pass


class AliasMoved(RegistryError):
  """The alias no longer points where the caller last saw it (compare-and-swap failed)."""


# set_alias(expected_version=ANY) moves the alias whatever it points to (rollback);
# None expects no alias yet; a number expects that version.
ANY = object()


def check_expected(alias: str, current: int | None, expected) -> None:
  if expected is not ANY and current != expected:
    raise AliasMoved(f'alias {alias!r} points to version {current} now, not '
                     f'{expected} as when this run read it (a rollback or another run '
                     f'moved it): not overwriting it')
