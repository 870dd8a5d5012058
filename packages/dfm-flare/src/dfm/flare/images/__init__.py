"""Container images, Compose and Helm for a FLARE deployment of a federation.

One entry function per kind, each ``generate_<kind>(federation, *, config_path,
output_dir, force=False, patch=None, **options) -> list[Path]`` (the files written):

- :func:`~dfm.flare.images.docker.generate_docker`: a Dockerfile per role (server, each
  site's client, the admin/application) and ``build.sh``;
- :func:`~dfm.flare.images.compose.generate_compose`: ``compose.yaml`` for N sites;
- :func:`~dfm.flare.images.helm.generate_helm`: a Helm chart and ``deploy.sh``.

``patch`` is a loaded ``--patch`` file (:func:`~dfm.flare.images.common.load_patch`).
Generated files are deterministic and hold no secret value.
"""

from dfm.flare.images.common import GenerateError, load_patch, merge_patch
from dfm.flare.images.compose import generate_compose
from dfm.flare.images.docker import generate_docker
from dfm.flare.images.helm import generate_helm

__all__ = [
    "GenerateError",
    "generate_compose",
    "generate_docker",
    "generate_helm",
    "load_patch",
    "merge_patch",
]
