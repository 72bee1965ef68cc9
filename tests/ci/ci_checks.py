"""Helpers for the CI config tests: schema validation through check-jsonschema's built-in
vendor schemas, Makefile targets, Dockerfile COPY sources and .dockerignore."""

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK_JSONSCHEMA = Path(sys.executable).parent / 'check-jsonschema'


def check_jsonschema(builtin: str, path: Path) -> subprocess.CompletedProcess:
  """Validates `path` against check-jsonschema's built-in schema `builtin`."""
  return subprocess.run([str(CHECK_JSONSCHEMA), '--builtin-schema', builtin, str(path)],
                        capture_output=True, text=True, timeout=120)


def makefile_targets(makefile: Path = REPO / 'Makefile') -> set:
  targets = set()
  for line in makefile.read_text().splitlines():
    m = re.match(r'^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?![:=])', line)
    if m and not line.startswith(('\t', '.PHONY')):
      targets.update(m.group(1).split())
  return targets


def make_prerequisites(target: str, makefile: Path = REPO / 'Makefile') -> list:
  for line in makefile.read_text().splitlines():
    m = re.match(rf'^{re.escape(target)}\s*:(?![:=])([^#]*)', line)
    if m:
      return m.group(1).split()
  raise KeyError(target)


def make_recipe(target: str, makefile: Path = REPO / 'Makefile') -> str:
  """The target's recipe lines (tab-indented, continuation lines included), joined."""
  lines, inside = [], False
  for line in makefile.read_text().splitlines():
    if inside:
      if not line.startswith('\t'):
        break
      lines.append(line)
    elif re.match(rf'^{re.escape(target)}\s*:(?![:=])', line):
      inside = True
  return '\n'.join(lines)


def make_targets_run(target: str, makefile: Path = REPO / 'Makefile') -> list:
  """What `make target` runs, as the targets that do the work: a prerequisite whose recipe
  calls `$(MAKE) X` stands for those X (recursively)."""

  def doing(name):
    called = re.findall(r'\$\(MAKE\)(?:\s+-\w+)*\s+([a-z][\w-]*)', make_recipe(name, makefile))
    return [t for c in called for t in doing(c)] if called else [name]

  return [t for prerequisite in make_prerequisites(target, makefile)
          for t in doing(prerequisite)]


def dockerfile_instructions(dockerfile: Path) -> list:
  """(INSTRUCTION, rest) pairs, continuation lines joined, comments dropped."""
  lines, current = [], ''
  for raw in dockerfile.read_text().splitlines():
    if raw.strip().startswith('#') and not current:
      continue
    current += raw.rstrip('\\').strip() + ' '
    if not raw.rstrip().endswith('\\'):
      if current.strip():
        word, _, rest = current.strip().partition(' ')
        lines.append((word.upper(), rest.strip()))
      current = ''
  return lines


def copy_sources(dockerfile: Path) -> list:
  """The build-context paths COPY/ADD take (not those copied from another image)."""
  sources = []
  for word, rest in dockerfile_instructions(dockerfile):
    if word not in ('COPY', 'ADD'):
      continue
    args = rest.split()
    if any(a.startswith('--from=') for a in args):
      continue
    args = [a for a in args if not a.startswith('--')]
    sources += args[:-1]
  return sources


def dockerfile_args(dockerfile: Path) -> dict:
  """ARG defaults (the first one of each name)."""
  out = {}
  for word, rest in dockerfile_instructions(dockerfile):
    if word == 'ARG' and '=' in rest:
      name, _, value = rest.partition('=')
      out.setdefault(name.strip(), value.strip().strip('"'))
  return out


def dockerignored(context: Path, rel: str) -> bool:
  """Whether .dockerignore of `context` excludes `rel` (or a folder holding it)."""
  ignore = context / '.dockerignore'
  if not ignore.is_file():
    return False
  patterns = [p.strip() for p in ignore.read_text().splitlines()
              if p.strip() and not p.startswith(('#', '!'))]
  parts = Path(rel).parts
  prefixes = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
  for pattern in patterns:
    pattern = pattern.strip('/')
    for prefix in prefixes:
      if fnmatch.fnmatch(prefix, pattern) or (
          pattern.startswith('**/') and fnmatch.fnmatch(Path(prefix).name, pattern[3:])):
        return True
  return False


def locked_version(package: str, lock: Path = REPO / 'requirements-local.lock') -> str:
  m = re.search(rf'^{re.escape(package)}==(\S+)$', lock.read_text(), re.M)
  assert m, f'{package} is not in {lock.name}'
  return m.group(1)
