"""The official Teams manifest JSON schemas, fetched from the npm registry at test time and cached.

Microsoft ships the schemas inside the npm package of its agents toolkit command line. The package itself
is not installed (a native dependency of it does not build here); `npm pack` downloads only its tarball, which
is read in place. The version is pinned so the set of schema versions, and so the tests, do not change under
our feet; the tarball is kept in the git-ignored `tests/node/.cache/` so later runs do not download it again.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft6Validator, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

TOOLKIT_PACKAGE = "@microsoft/m365agentstoolkit-cli"
TOOLKIT_VERSION = "1.1.17"
CACHE_DIR = Path(__file__).resolve().parents[1] / "node" / ".cache"
SCHEMA_URL = "https://developer.microsoft.com/json-schemas/teams/{version}/{name}"
_SCHEMA_PATH = re.compile(r"^package/json-schemas/teams/(v[^/]+)/([^/]+\.schema\.json)$")

# The Teams schema declares draft-04 but uses `const` (a draft-06 keyword) for `manifestVersion`; a plain
# draft-04 validator would skip it silently, so the validator is draft-04 with draft-06's `const` added.
TeamsManifestValidator = validators.extend(Draft4Validator, {"const": Draft6Validator.VALIDATORS["const"]})


def _toolkit_tarball() -> Path:
    """The toolkit's npm tarball, downloaded once with `npm pack` into the cache folder."""
    tarball = CACHE_DIR / f"microsoft-m365agentstoolkit-cli-{TOOLKIT_VERSION}.tgz"
    if tarball.exists():
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to fetch the official Teams manifest schema; install Node.js and npm")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
        result = subprocess.run(
            [npm, "pack", f"{TOOLKIT_PACKAGE}@{TOOLKIT_VERSION}", "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        packed = list(Path(scratch).glob("*.tgz"))
        if result.returncode != 0 or len(packed) != 1:
            pytest.fail(
                f"`npm pack {TOOLKIT_PACKAGE}@{TOOLKIT_VERSION}` failed (exit {result.returncode}); "
                f"the Teams manifest schema comes from that package:\n{result.stderr[-2000:]}"
            )
        packed[0].replace(tarball)
    return tarball


@dataclass(frozen=True)
class TeamsSchemas:
    """Every Teams schema file in the toolkit package, by manifest version and file name."""

    files: Mapping[tuple[str, str], Any]

    @property
    def manifest_versions(self) -> list[str]:
        """The released manifest versions (`1.24`, `1.30`...), oldest first; previews are left out."""
        found = {version[1:] for version, name in self.files if name == "MicrosoftTeams.schema.json"}
        released = [v for v in found if re.fullmatch(r"\d+\.\d+", v)]
        return sorted(released, key=lambda v: tuple(int(part) for part in v.split(".")))

    def manifest_validator(self, manifest_version: str) -> Any:
        """A validator for the app manifest of that version; any `$ref` resolves inside the package."""
        registry: Registry[Any] = Registry()
        for (version, name), contents in self.files.items():
            resource = Resource.from_contents(contents, default_specification=DRAFT4)
            registry = registry.with_resource(SCHEMA_URL.format(version=version, name=name), resource)
        schema = self.files[(f"v{manifest_version}", "MicrosoftTeams.schema.json")]
        return TeamsManifestValidator(
            schema, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER
        )


def load_teams_schemas() -> TeamsSchemas:
    """Read the schemas from the (cached) toolkit tarball: a quarter of a second once the tarball is here."""
    files: dict[tuple[str, str], Any] = {}
    with tarfile.open(_toolkit_tarball(), "r:gz") as archive:
        for member in archive:
            match = _SCHEMA_PATH.match(member.name)
            extracted = archive.extractfile(member) if match else None
            if match and extracted is not None:
                files[(match.group(1), match.group(2))] = json.loads(extracted.read())
    assert files, f"no json-schemas/teams/ files in {TOOLKIT_PACKAGE}@{TOOLKIT_VERSION}"
    return TeamsSchemas(files)
