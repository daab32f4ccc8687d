"""A quant's JupyterLab server: its home folder, its store credentials, the getting-started notebook.

Used by ``jupyterhub_config.py`` as ``c.Spawner.pre_spawn_hook``. The local spawner
(``SimpleLocalProcessSpawner``) runs every server as the hub's own system user, on this machine: it is the
single-machine setup, with no isolation between users beyond their home folders and store credentials.
The scale-out path is KubeSpawner (``deploy/z2jh/values.yaml``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from marketintel.hub import SERVER_GROUPS, paths, users

#: the notebook every new home folder starts with
GETTING_STARTED = Path(__file__).with_name("home") / "getting_started.ipynb"


def prepare_home(name: str, hub: Path | None = None) -> Path:
    """Create ``name``'s home folder with the getting-started notebook (never overwriting theirs)."""
    home = paths.home_dir(name, hub)
    home.mkdir(parents=True, exist_ok=True)
    target = home / GETTING_STARTED.name
    if GETTING_STARTED.exists() and not target.exists():
        shutil.copyfile(GETTING_STARTED, target)
    return home


def server_environment(name: str) -> dict[str, str]:
    """Return what a server user's JupyterLab and kernels need: their own store URL, this venv first.

    Raises
    ------
    RuntimeError
        If the user has no store credentials (not in a server group when added): the Hub shows the message.
    """
    url = users.store_url(name)
    if url is None:
        raise RuntimeError(
            f"{name} has no store credentials; an admin gives them with "
            f"`mi hub user set-groups {name} {' '.join(SERVER_GROUPS[:1])} ...`"
        )
    venv_bin = str(Path(sys.executable).parent)
    return {
        "MI_CLICKHOUSE_URL": url,
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "MI_HUB_USER": name,
    }


def pre_spawn_hook(spawner: Any) -> None:
    """Point ``spawner`` at the user's home folder and give it their environment (JupyterHub calls this)."""
    name = spawner.user.name
    home = prepare_home(name)
    spawner.notebook_dir = str(home)
    spawner.environment = {**spawner.environment, **server_environment(name)}
