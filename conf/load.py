"""Load a keepalived.conf into the model, with diagnostics."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from conf.build import build_root
from conf.diagnostics import Diagnostics
from conf.model.config import Config
from conf.preprocess import Preprocessor
from conf.schema import Cx
from conf.tree import build_tree


@dataclass(frozen=True)
class Loaded:
    config: Config
    diagnostics: Diagnostics
    files: tuple[str, ...]
    config_id: str


def default_config_id() -> str:
    """keepalived's default: the node name up to its first dot."""
    return socket.gethostname().split(".", 1)[0]


def load(
    path: str,
    *,
    config_id: str | None = None,
    strict_env: bool = False,
    random_seed: int | None = None,
) -> Loaded:
    """Read, expand, parse and build; never raises for anything in the file."""
    diags = Diagnostics(strict_env=strict_env)
    ident = config_id if config_id is not None else default_config_id()
    preprocessor = Preprocessor(diags, ident, random_seed=random_seed)
    tree = build_tree(preprocessor.read(path), diags)
    config = build_root(Config, tree, Cx(diags, ident))
    return Loaded(config, diags, tuple(preprocessor.files_read), ident)
